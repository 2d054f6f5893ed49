"""OmniDimension's unfiltered listing in the shapes a real server may send that the page does not
rule out, served on loopback: a page answered empty once (a replica not caught up, a cache), a
`total_records` that counts far more than the listing holds (deleted or archived calls), a
`time_of_call` the pipeline cannot read on every record. Every call of the day lands once, or the
day fails saying why; no call is ever filed under a day it does not belong to."""

from __future__ import annotations

from datetime import datetime

import pytest
from loopback import Listing
from test_contract_http import failure, materialize, resource
from test_longer_pages import CALLS, DAY_CALLS, landed

ORDERED = sorted(CALLS.items(), key=lambda item: item[1], reverse=True)  # newest first


def omni(rows: list[tuple[str, datetime]], number: int, size: int, total: int) -> dict:
    page = rows[(number - 1) * size : number * size]
    records = [
        {"id": n, "time_of_call": t.strftime("%m/%d/%Y %H:%M:%S"), "call_status": "completed"}
        for n, t in page
    ]
    return {"call_log_data": records, "total_records": total}


def serve(change=lambda number, body, seen: body):
    """The documented listing of ``CALLS``; ``change(number, body, times page number was asked)``."""
    asked: dict[int, int] = {}

    def answer(path: str, query: dict[str, str]) -> dict:
        number, size = int(query["pageno"]), int(query["pagesize"])
        asked[number] = asked.get(number, 0) + 1
        return change(number, omni(ORDERED, number, size, len(ORDERED)), asked[number])

    return Listing(answer)


def run(server: Listing, tmp_path):
    return materialize("omnidimension", "call_logs", resource("omnidimension", server), tmp_path)


@pytest.mark.parametrize("empty_page", [2, 10, 14, 17, 22])
def test_a_page_answered_empty_once_loses_no_call(empty_page, tmp_path):
    def once_empty(number, body, seen):
        if number == empty_page and seen == 1:
            body["call_log_data"] = []
        return body

    with serve(once_empty) as server:
        result = run(server, tmp_path)
    assert result.success, failure(result)
    assert landed("omnidimension", "call_logs", tmp_path) == sorted(DAY_CALLS)


@pytest.mark.parametrize("more", [150, 1000, 10_000])
def test_a_total_counting_far_more_than_is_listed_loses_no_call(more, tmp_path):
    def overcount(number, body, seen):
        body["total_records"] += more
        return body

    with serve(overcount) as server:
        result = run(server, tmp_path)
        requests = len(server.requests)
    assert result.success, failure(result)
    assert landed("omnidimension", "call_logs", tmp_path) == sorted(DAY_CALLS)
    assert requests < 30


def test_times_in_a_format_no_reader_knows_fail_the_day_instead_of_filing_page_1_under_it(tmp_path):
    def unreadable(number, body, seen):
        for record in body["call_log_data"]:
            record["time_of_call"] = "Mon 4th of May, 2:46pm"
        return body

    with serve(unreadable) as server:
        result = run(server, tmp_path)
    assert not result.success
    message = failure(result)
    assert "Mon 4th of May" in message
    assert "OmniDimension /calls/logs: none of the 150 records on page 1 has a time_of_call" in message
    assert "time format may have changed" in message


def test_an_absurd_total_costs_a_few_requests_not_a_request_per_page_it_claims(tmp_path):
    def absurd(number, body, seen):
        body["total_records"] = 10**12
        return body

    with serve(absurd) as server:
        result = run(server, tmp_path)
        requests = len(server.requests)
    assert result.success, failure(result)
    assert landed("omnidimension", "call_logs", tmp_path) == sorted(DAY_CALLS)
    assert requests < 80


@pytest.mark.parametrize("total", [-1, 0, 200, 2**64], ids=["minus-one", "zero", "capped-200", "2**64"])
def test_a_total_that_counts_short_or_nothing_or_too_much_loses_no_call(total, tmp_path):
    def count(number, body, seen):
        body["total_records"] = total
        return body

    with serve(count) as server:
        result = run(server, tmp_path)
    assert result.success, failure(result)
    assert landed("omnidimension", "call_logs", tmp_path) == sorted(DAY_CALLS)
