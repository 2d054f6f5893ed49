"""One measured piece of work per process: ``python -m bench.worker <task> <json args>``.

Prints one JSON line: the task's own numbers plus ``wall`` / ``cpu`` (user + system seconds of this
process, from ``getrusage``) around the measured part and ``max_rss_mb`` (peak RSS of the process).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager

logging.disable(logging.WARNING)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def measured(out: dict, prefix: str = ""):
    wall, cpu = time.perf_counter(), _cpu()
    yield
    out[prefix + "wall"] = out.get(prefix + "wall", 0.0) + time.perf_counter() - wall
    out[prefix + "cpu"] = out.get(prefix + "cpu", 0.0) + _cpu() - cpu


MEASURED_RUNS = 3


def best_of(work: Callable[[], object], runs: int = MEASURED_RUNS) -> dict:
    """Wall and CPU time of ``work``, each the least of ``runs`` runs (timeit's rule: the least
    disturbed run). A single run moved by a tenth of a second when a full garbage collection
    happened to fall inside it, or the shared machine got busy."""
    times = []
    for _ in range(runs):
        one: dict = {}
        with measured(one):
            work()
        times.append(one)
    return {"wall": min(t["wall"] for t in times), "cpu": min(t["cpu"] for t in times)}


def _wrap(module, name: str, out: dict, prefix: str) -> None:
    """Time every call of ``module.name`` (the assets' own work) into ``out[prefix + wall/cpu]``."""
    original: Callable = getattr(module, name)
    if name == "ingest_days":

        async def timed(*args, **kwargs):
            with measured(out, prefix):
                return await original(*args, **kwargs)
    else:

        def timed(*args, **kwargs):
            with measured(out, prefix):
                return original(*args, **kwargs)

    setattr(module, name, timed)


def _time_calls(module, name: str, out: dict, key: str) -> None:
    """Add the CPU time of every call of ``module.name`` to ``out[key]`` (this thread's CPU clock:
    wall time would count the time other processes run on a busy machine)."""
    original: Callable = getattr(module, name)
    out.setdefault(key, 0.0)

    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            out[key] += time.thread_time() - started

    setattr(module, name, timed)


def _partitions(start: str):
    import dagster as dg

    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC")


def _metadata(result, node: str) -> dict:
    values = {}
    for mat in result.asset_materializations_for_node(node):
        for key, value in mat.metadata.items():
            if isinstance(value.value, (int, float, str)):
                values[key] = value.value
    return values


# -- tasks ---------------------------------------------------------------------------------------


def raw(args: dict) -> dict:
    """Materialize one raw asset for one day (dg.materialize, ephemeral instance)."""
    import dagster as dg

    from calllog_pipeline.lake import Lake
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.raw import assets as raw_assets

    out: dict = {}
    provider = REGISTRY[args["provider"]]
    asset = raw_assets.build_raw_asset(
        provider, provider.endpoint(args["endpoint"]), _partitions(args["day"])
    )
    _wrap(raw_assets, "ingest_days", out, "inner_")
    _time_calls(raw_assets, "redact_serialized_many", out, "redact_s")  # redaction of each page's payloads
    if args.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    with measured(out):
        result = dg.materialize(
            [asset],
            resources={"lake": Lake(root=args["data_dir"]), provider.name: provider.api()},
            partition_key=args["day"],
        )
    if args.get("profile"):
        profiler.stop()
        out["profile"] = profiler.output_text(unicode=False, color=False, show_all=False)[:20000]
    out.update(_metadata(result, asset.node_def.name))
    return out


def normalize(args: dict) -> dict:
    """The normalize asset's per-provider work (``write_provider_day``), one provider-day."""
    from collections import Counter

    from calllog_pipeline.lake import Lake
    from calllog_pipeline.normalized.privacy import Privacy
    from calllog_pipeline.normalized.writer import Written, write_provider_day
    from calllog_pipeline.providers import REGISTRY

    lake = Lake(root=args["data_dir"])
    provider = REGISTRY[args["provider"]]
    raw_records = sum(
        _rows(lake, lake.raw_path(provider.name, e.name, args["day"])) for e in provider.endpoints
    )
    out: dict = {"raw_records": raw_records}
    write_provider_day(lake, Privacy(), provider, args["day"], Written())  # warm-up: see ``floor``
    written: list[Written] = []  # each measured run's own count

    def one_day() -> None:
        written.append(Written())
        write_provider_day(lake, Privacy(), provider, args["day"], written[-1])

    if args.get("profile"):
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    out.update(best_of(one_day))
    if args.get("profile"):
        prof.disable()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(18)
        out["profile"] = text.getvalue()
    out["rows"] = {t: int(sum(Counter(c).values())) for t, c in written[-1].rows.items()}
    return out


def _rows(lake, path: str) -> int:
    import pyarrow.parquet as pq

    if not lake.exists(path):
        return 0
    with lake.fs.open(path, "rb") as f:
        return pq.ParquetFile(f).metadata.num_rows


def floor(args: dict) -> dict:
    from bench.floor import run_floor

    out: dict = {}
    # Measured warm on both sides (normalize too): one unmeasured run first, so what a process
    # pays once (lazy imports, first use of a compute kernel) counts on neither side. Section 5
    # compares whole processes, where it counts on both.
    day = (args["data_dir"], args["provider"], args["day"], args["out"])
    run_floor(*day)
    out.update(best_of(lambda: out.update(run_floor(*day))))
    return out


def dlt_run(args: dict) -> dict:
    from bench.dlt_source import run_dlt

    out: dict = {}
    if args.get("warm"):  # section 2 reads dlt's normalize step from a second run, like ours
        with tempfile.TemporaryDirectory(prefix="bench-dlt-") as work:
            run_dlt({**args, "work_dir": work})
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as work, measured(out):
        out.update(run_dlt({**args, "work_dir": work}))
    return out


def materialize_normalize(args: dict) -> dict:
    """A provider's normalize multi-asset (``args["provider"]``; default every provider's), checks
    included, for one day, in one run."""
    import dagster as dg

    from calllog_pipeline.lake import Lake
    from calllog_pipeline.normalized import Privacy, build_normalized_assets, normalized_asset_key, writer
    from calllog_pipeline.providers import REGISTRY

    providers = [REGISTRY[args["provider"]]] if args.get("provider") else list(REGISTRY.values())
    assets = build_normalized_assets(providers, _partitions(args["day"]))
    out: dict = {}
    _wrap(writer, "write_provider_day", out, "inner_")
    with measured(out):
        result = dg.materialize(
            assets,
            resources={"lake": Lake(root=args["data_dir"]), "privacy": Privacy()},
            partition_key=args["day"],
        )
    calls = {normalized_asset_key(p.name, "calls") for p in providers}
    out["calls"] = sum(
        m.materialization.metadata["dagster/row_count"].value
        for m in result.get_asset_materialization_events()
        if m.asset_key in calls
    )
    return out


TASKS = {
    "raw": raw,
    "normalize": normalize,
    "floor": floor,
    "dlt": dlt_run,
    "materialize_normalize": materialize_normalize,
}


def main() -> None:
    task, args = sys.argv[1], json.loads(sys.argv[2])
    out = TASKS[task](args)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
