"""A call deleted from the listing while the pipeline pages through it (a user removes a call log
in the provider's dashboard). On an oldest-first listing every later record moves up one place,
so a page read after the deletion starts one record further on than its number says, and the
record that moved onto the page before it is in no page read. The listing's total, which fell,
gives it away: every record still listed lands once."""

from __future__ import annotations

import pytest
from loopback import Listing
from test_contract_http import DAY_CALLS, LISTINGS, envelope, failure, landed, materialize, resource
from test_longer_pages import CALLS as DEEP
from test_longer_pages import DAY_CALLS as DEEP_DAY
from test_longer_pages import landed as deep_landed

# Oldest first on a closed day: DialNexa /call-logs (created_at=asc), LeadConnector (sort=ascend);
# newest first: DialNexa /calls (its stable positions count from the oldest end).
ENDPOINTS = [("dialnexa", "call_logs"), ("leadconnector", "call_logs"), ("dialnexa", "calls")]
GONE = "c010"  # on the first page of every listing


def deleting_after_first_answer(provider: str, endpoint: str) -> Listing:
    answered = []

    def answer(path: str, query: dict[str, str]) -> dict:
        rows, page, size = LISTINGS[provider, endpoint](query)
        if answered:  # deleted right after the first page was answered
            rows = [r for r in rows if r.get("call_id", r["id"]) != GONE]
        answered.append(page)
        return envelope(provider, endpoint, rows[(page - 1) * size : page * size], len(rows), page, size)

    return Listing(answer)


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=[f"{p}-{e}" for p, e in ENDPOINTS])
def test_a_call_deleted_while_paging_costs_no_other_call(provider, endpoint, tmp_path):
    with deleting_after_first_answer(provider, endpoint) as server:
        result = materialize(provider, endpoint, resource(provider, server, max_concurrency=1), tmp_path)
    assert result.success, failure(result)
    # The deleted call may or may not have been read before it went; every other one lands.
    assert set(landed(provider, endpoint, tmp_path)) - {GONE} == set(DAY_CALLS) - {GONE}


# A count that is not exact from one answer to the next (read from replicas that lag each other,
# or cached per server), here one short on every other answer, although no call is deleted: the
# listing is read again a few times, never fails for it, and every call lands once.


def jittery_total(provider: str, endpoint: str) -> Listing:
    answered = []

    def answer(path: str, query: dict[str, str]) -> dict:
        rows, page, size = LISTINGS[provider, endpoint](query)
        answered.append(page)
        total = len(rows) - len(answered) % 2
        return envelope(provider, endpoint, rows[(page - 1) * size : page * size], total, page, size)

    return Listing(answer)


@pytest.mark.parametrize(
    ("provider", "endpoint"),
    [*ENDPOINTS, ("omnidimension", "call_logs")],
    ids=[f"{p}-{e}" for p, e in [*ENDPOINTS, ("omnidimension", "call_logs")]],
)
def test_a_total_that_jitters_between_answers_loses_no_call(provider, endpoint, tmp_path):
    with jittery_total(provider, endpoint) as server:
        result = materialize(provider, endpoint, resource(provider, server), tmp_path)
    assert result.success, failure(result)
    assert landed(provider, endpoint, tmp_path) == sorted(DAY_CALLS)


def test_a_call_deleted_while_omnidimension_is_searched_costs_no_other_call(tmp_path):
    """OmniDimension's unfiltered listing is read newest first and its day searched for: a call of
    the day deleted after page 1 moves the older records up, which the repair re-reads."""
    newest_first = sorted(DEEP.items(), key=lambda item: item[1], reverse=True)
    deleted = "d0100"
    answered = []

    def answer(path: str, query: dict[str, str]) -> dict:
        rows = [r for r in newest_first if r[0] != deleted] if answered else newest_first
        answered.append(query["pageno"])
        number, size = int(query["pageno"]), int(query["pagesize"])
        page = rows[(number - 1) * size : number * size]
        records = [{"id": n, "time_of_call": t.strftime("%m/%d/%Y %H:%M:%S")} for n, t in page]
        return {"call_log_data": records, "total_records": len(rows)}

    with Listing(answer) as server:
        result = materialize("omnidimension", "call_logs", resource("omnidimension", server), tmp_path)
    assert result.success, failure(result)
    assert set(deep_landed("omnidimension", "call_logs", tmp_path)) == set(DEEP_DAY) - {deleted}


# A total that is absurd (a placeholder, a count of every call ever made, a server bug): the
# listing ends where its pages end, and the day costs its own pages, not one request per page the
# total claims.


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=[f"{p}-{e}" for p, e in ENDPOINTS])
def test_an_absurd_total_costs_the_pages_that_exist(provider, endpoint, tmp_path):
    def answer(path: str, query: dict[str, str]) -> dict:
        rows, page, size = LISTINGS[provider, endpoint](query)
        return envelope(provider, endpoint, rows[(page - 1) * size : page * size], 2**64, page, size)

    with Listing(answer) as server:
        result = materialize(provider, endpoint, resource(provider, server), tmp_path)
        requests = len(server.requests)
    assert result.success, failure(result)
    assert landed(provider, endpoint, tmp_path) == sorted(DAY_CALLS)
    assert requests < 20
