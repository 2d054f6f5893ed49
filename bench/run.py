"""``python -m bench [--quick] [--sections ingest,...,nightly,daemon] [--profile]``

Runs the sections against the provider simulator (in its own process), prints the tables and
writes them into docs/benchmarks.md between the generated-output markers (the rest of that file,
the analysis, is kept).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import backfill, daemon_backfill, e2e, ingest, nightly, normalize, qa, scale
from bench.harness import ROOT, SimSpec, Simulator, machine, run_worker, yesterday

SECTIONS = ("ingest", "normalize", "e2e", "backfill", "scale", "qa", "nightly", "daemon")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
COMMAND = 'pip install -e ".[bench]" && python -m bench'
# (ingest calls/day, normalize calls/day, backfill days, backfill calls/day, scale calls/day)
SIZES = {"quick": (1_000, 2_000, 5, 200, 10_000), "full": (10_000, 10_000, 90, 1_000, 200_000)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about 2 minutes")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--scale-calls", type=int, help="calls per provider-day for scale (e.g. 1000000)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the slowest ingest and normalize"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="'-' to write no file")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    mode = "quick" if args.quick else "full"
    ingest_n, norm_n, bf_days, bf_n, scale_n = SIZES[mode]
    scale_n = args.scale_calls or scale_n

    parts = [_header(mode, sections)]
    started = time.perf_counter()
    if "ingest" in sections:
        _say("ingest")
        rows = ingest.run(ingest_n)
        parts.append(
            f"### 1. Ingest ({ingest_n:,} calls/provider/day, one closed day)\n\n{_doc(ingest)}\n\n"
            f"{ingest.table(rows)}\n\nRate limits on both sides: "
            + ", ".join(f"{p} {r}/{s:g} s" for p, (r, s) in ingest.RATE_LIMITS.items())
            + f"; client concurrency {ingest.CONCURRENCY}.\n\nOmniDimension days deeper in its listing "
            f"({ingest_n:,} calls/day, 0 ms latency):\n\n{ingest.depths_table(ingest.depths(ingest_n))}"
        )
    if "normalize" in sections:
        _say("normalize")
        rows = normalize.run(norm_n)
        parts.append(
            f"### 2. Normalize ({norm_n:,} calls/provider/day)\n\n{_doc(normalize)}\n\n"
            + normalize.table(rows)
        )
    if "e2e" in sections:
        _say("e2e")
        parts.append(
            f"### 5. End to end, whole processes ({norm_n:,} calls/provider/day)\n\n{_doc(e2e)}\n\n"
            + e2e.table(e2e.run(norm_n))
        )
    if "backfill" in sections:
        _say("backfill")
        r = backfill.run(bf_days, bf_n)
        parts.append(
            f"### 3. Backfill ({bf_days} days x 3 providers x {bf_n:,} calls/provider-day)\n\n"
            f"{_doc(backfill)}\n\n{backfill.table(r)}"
        )
    if "qa" in sections:
        parts.append(qa.section(mode))
    if "nightly" in sections:
        _say("nightly")
        nightly_n = 2_000 if mode == "quick" else 10_000
        parts.append(
            f"### Nightly re-run of 3 unchanged days ({', '.join(nightly.PROVIDERS)}, "
            f"{nightly_n:,} calls/provider-day)\n\n{_doc(nightly)}\n\n{nightly.table(nightly.run(nightly_n))}"
        )
    if "scale" in sections:
        _say("scale")
        rows = scale.run(scale_n)
        note = (
            ""
            if scale_n >= 1_000_000
            else (
                f"\n\n**Measured at {scale_n:,} calls per provider-day, not 1,000,000**: the full million "
                "takes longer than the default run's budget on this machine (run it with "
                "`python -m bench --sections scale --scale-calls 1000000`). Nothing here is extrapolated."
            )
        )
        parts.append(
            f"### 4. Scale (one day, {scale_n:,} calls/provider)\n\n{_doc(scale)}\n\n"
            f"{scale.table(rows, scale_n)}{note}"
        )
    if "daemon" in sections:  # the year through the daemon on PostgreSQL; skipped without a server
        _say("daemon")
        parts.append(daemon_backfill.section(mode))
    if args.profile:
        _say("profile")
        parts.append(_profiles(ingest_n))
    parts.append(f"_Total benchmark time: {time.perf_counter() - started:.0f} s._")
    text = "\n\n".join(parts)
    print(text)
    if args.out != "-":
        _write(Path(args.out), text)
    return 0


def _say(section: str) -> None:
    print(f"[bench] {section} ...", file=sys.stderr, flush=True)


def _doc(module) -> str:
    """A section module's docstring without its first (title) paragraph."""
    return module.__doc__.split("\n\n", 1)[-1].strip()


def _header(mode: str, sections: list[str]) -> str:
    info = machine()
    lines = "\n".join(f"- **{k}**: {v}" for k, v in info.items())
    return (
        f"## Results ({mode} mode: {', '.join(sections)}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n{lines}"
    )


def _profiles(calls: int) -> str:
    """pyinstrument over the OmniDimension raw asset, cProfile over its normalize (separate runs:
    profiling slows the code, so these numbers are not in the tables)."""
    day = yesterday().isoformat()
    with Simulator(SimSpec(calls_per_day=calls)) as sim, tempfile.TemporaryDirectory() as data_dir:
        args = {"provider": "omnidimension", "endpoint": "call_logs", "day": day, "data_dir": data_dir}
        raw = run_worker("raw", {**args, "profile": True}, sim.env())
        norm = run_worker(
            "normalize", {"provider": "omnidimension", "day": day, "data_dir": data_dir, "profile": True}
        )
    return (
        "### Profiles (OmniDimension, the slowest endpoint)\n\n<details><summary>raw asset "
        f"(pyinstrument)</summary>\n\n```\n{raw['profile']}\n```\n</details>\n\n<details><summary>"
        f"normalize (cProfile, by own time)</summary>\n\n```\n{norm['profile']}\n```\n</details>"
    )


def _write(path: Path, generated: str) -> None:
    block = f"{START}\n{generated}\n{END}"
    if path.exists() and START in (old := path.read_text()) and END in old:
        head, rest = old.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = (
            f"# Benchmarks\n\n```sh\n{COMMAND}\n```\n\n`--quick` (about 2 minutes), `--sections ingest,"
            "normalize,backfill,scale`, `--scale-calls 1000000`, `--profile`.\n\n" + block + "\n"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
