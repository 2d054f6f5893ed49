"""The alternative a user would pick: dlt's ``rest_api`` source over the same endpoints and day,
written as Parquet by the ``filesystem`` destination. Configured as its docs suggest (page-number
paginator, bearer auth, data selector); dlt's own defaults otherwise (its normalizer unnests nested
lists into child tables). OmniDimension has no date filter: dlt reads the first pages, which hold
exactly the day because the simulator's clock stands at the end of that day."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta


def _resources(provider: str, env: dict, day: str, omni_pages: int) -> tuple[dict, list[dict]]:
    start = datetime.fromisoformat(day)
    end = start + timedelta(days=1)

    def paged(name, path, params, selector, page_param="page", **paginator):
        return {
            "name": name,
            "endpoint": {
                "path": path,
                "params": params,
                "data_selector": selector,
                "paginator": {
                    "type": "page_number",
                    "base_page": 1,
                    "page_param": page_param,
                    "total_path": None,
                    **paginator,
                },
            },
        }

    if provider == "dialnexa":
        client = {
            "base_url": env["DIALNEXA_BASE_URL"],
            "auth": {"type": "bearer", "token": env["DIALNEXA_API_KEY"]},
        }
        window = {"from": f"{day}T00:00:00.000Z", "to": f"{end.date()}T00:00:00.000Z", "limit": 100}
        logs = {"start_date": day, "end_date": day, "limit": 100, "created_at": "asc"}
        return client, [
            paged("calls", "calls", window, "data"),
            paged("call_logs", "call-logs", logs, "data"),
        ]
    if provider == "leadconnector":
        client = {
            "base_url": env["LEADCONNECTOR_BASE_URL"],
            "auth": {"type": "bearer", "token": env["LEADCONNECTOR_API_KEY"]},
            "headers": {"Version": "2021-04-15"},
        }
        ms = int(start.replace(tzinfo=UTC).timestamp() * 1000)
        params = {
            "locationId": env["LEADCONNECTOR_LOCATION_ID"],
            "startDate": ms,
            "endDate": ms + 86_400_000 - 1,
            "pageSize": 50,
            "sortBy": "createdAt",
            "sort": "ascend",
        }
        return client, [paged("call_logs", "voice-ai/dashboard/call-logs", params, "callLogs")]
    client = {
        "base_url": env["OMNIDIM_BASE_URL"],
        "auth": {"type": "bearer", "token": env["OMNIDIM_API_KEY"]},
    }
    return client, [
        paged(
            "call_logs", "calls/logs", {"pagesize": 150}, "call_log_data", "pageno", maximum_page=omni_pages
        )
    ]


def run_dlt(args: dict) -> dict:
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    provider, env, day = args["provider"], args["env"], args["day"]
    client, resources = _resources(provider, env, day, math.ceil(args.get("omni_records", 0) / 150))
    work = args["work_dir"]  # the caller removes it, outside the measured process
    source = rest_api_source({"client": client, "resources": resources}, name=provider)
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{provider}",
        pipelines_dir=os.path.join(work, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=os.path.join(work, "lake")),
        dataset_name=provider,
        progress=None,
    )
    pipeline.run(source, loader_file_format="parquet")
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts
    top = {r["name"] for r in resources}
    steps = {s.step: (s.finished_at - s.started_at).total_seconds() for s in trace.steps}
    return {
        "step_s": steps,  # extract, normalize, load
        "records": sum(n for t, n in counts.items() if t in top),
        "rows_all_tables": sum(n for t, n in counts.items() if not t.startswith("_dlt")),
        "tables": len([t for t in counts if not t.startswith("_dlt")]),
    }


if __name__ == "__main__":  # a dlt pipeline script, as a user would run it (bench/e2e.py)
    import json
    import sys

    print(json.dumps(run_dlt(json.loads(sys.argv[1]))))
