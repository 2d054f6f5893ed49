"""``python -m bench [--quick] [--sections ingest,normalize,...] [--profile]``

Runs the sections against the provider simulator (in its own process), prints the tables and
writes each section into docs/benchmarks.md between its own markers
(``<!-- bench:<section>:start -->`` ... ``:end -->``): running some sections replaces only
their blocks and keeps the others' last results, and the analysis outside the markers.
A new section is one entry in ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import backfill, daemon_backfill, e2e, ingest, nightly, normalize, qa, scale
from bench.harness import ROOT, SimSpec, Simulator, machine, run_worker, yesterday

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
COMMAND = 'pip install -e ".[bench]" && python -m bench'


@dataclass(frozen=True)
class Options:
    mode: str  # "quick" or "full"
    scale_calls: int | None = None
    e2e_calls: tuple[int, ...] = ()  # unlimited sizes for e2e (the limited run stays at the first)

    @property
    def quick(self) -> bool:
        return self.mode == "quick"


def _ingest(o: Options) -> str:
    n = 1_000 if o.quick else 10_000
    return (
        f"### 1. Ingest ({n:,} calls/provider/day, one closed day)\n\n{_doc(ingest)}\n\n"
        f"{ingest.table(ingest.run(n))}\n\nRate limits on both sides: "
        + ", ".join(f"{p} {r}/{s:g} s" for p, (r, s) in ingest.RATE_LIMITS.items())
        + f"; client concurrency {ingest.CONCURRENCY}.\n\nOmniDimension days deeper in its listing "
        f"({n:,} calls/day, 0 ms latency):\n\n{ingest.depths_table(ingest.depths(n))}"
    )


def _normalize(o: Options) -> str:
    n = 2_000 if o.quick else 10_000
    return f"### 2. Normalize ({n:,} calls/provider/day)\n\n{_doc(normalize)}\n\n" + normalize.table(
        normalize.run(n)
    )


def _backfill(o: Options) -> str:
    days, n = (5, 200) if o.quick else (30, 1_000)  # 90 days took 1,411 s on the loaded machine
    r = backfill.run(days, n)
    return (
        f"### 3. Backfill ({days} days x 3 providers x {n:,} calls/provider-day)\n\n"
        f"{_doc(backfill)}\n\n{backfill.table(r)}"
    )


def _scale(o: Options) -> str:
    n = o.scale_calls or (10_000 if o.quick else 200_000)
    note = (
        ""
        if n >= 1_000_000
        else (
            f"\n\n**Measured at {n:,} calls per provider-day, not 1,000,000**: the full million "
            "takes longer than the default run's budget on this machine (run it with "
            "`python -m bench --sections scale --scale-calls 1000000`). Nothing here is extrapolated."
        )
    )
    table = scale.table(scale.run(n), n)
    return f"### 4. Scale (one day, {n:,} calls/provider)\n\n{_doc(scale)}\n\n{table}{note}"


def _e2e(o: Options) -> str:
    sizes = o.e2e_calls or ((2_000,) if o.quick else (10_000,))
    limited = sizes[0]
    return (
        f"### 5. End to end, whole processes ({', '.join(f'{n:,}' for n in sizes)} calls/provider/day)"
        f"\n\n{_doc(e2e)}\n\n{e2e.table(e2e.run(sizes, limited))}"
    )


def _nightly(o: Options) -> str:
    n = 2_000 if o.quick else 10_000
    return (
        f"### Nightly re-run of 3 unchanged days ({', '.join(nightly.PROVIDERS)}, "
        f"{n:,} calls/provider-day)\n\n{_doc(nightly)}\n\n{nightly.table(nightly.run(n))}"
    )


def _profile(o: Options) -> str:
    return _profiles(1_000 if o.quick else 10_000)


@dataclass(frozen=True)
class Section:
    run: Callable[[Options], str]
    default: bool = True  # part of a plain ``python -m bench`` (keep that under ~25 minutes)


# Order = order in docs/benchmarks.md. Register a section here (one line); nothing else changes.
SECTIONS: dict[str, Section] = {
    "ingest": Section(_ingest),
    "normalize": Section(_normalize),
    "backfill": Section(_backfill),
    "scale": Section(_scale),
    "e2e": Section(_e2e),
    "qa": Section(lambda o: qa.section(o.mode)),
    "nightly": Section(_nightly),
    "profile": Section(_profile, default=False),
    # The year through the daemon on PostgreSQL (`source .ci/postgres.sh` first; ~20-30 min).
    "daemon": Section(lambda o: daemon_backfill.section(o.mode), default=False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument(
        "--sections",
        default=",".join(name for name, s in SECTIONS.items() if s.default),
        help=f"comma list of {', '.join(SECTIONS)} (default: all but "
        f"{', '.join(n for n, s in SECTIONS.items() if not s.default) or 'none'})",
    )
    parser.add_argument("--scale-calls", type=int, help="calls per provider-day for scale (e.g. 1000000)")
    parser.add_argument(
        "--e2e-calls", help="comma list of calls per provider-day for e2e (e.g. 10000,100000)"
    )
    parser.add_argument("--profile", action="store_true", help="also run the profile section")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="'-' to write no file")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.sections.split(",") if s.strip()]
    if args.profile and "profile" not in names:
        names.append("profile")
    if unknown := set(names) - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    options = Options(
        mode="quick" if args.quick else "full",
        scale_calls=args.scale_calls,
        e2e_calls=tuple(int(n) for n in args.e2e_calls.split(",")) if args.e2e_calls else (),
    )
    blocks: dict[str, str] = {}
    started = time.perf_counter()
    for name in (n for n in SECTIONS if n in names):  # registry order
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        text = SECTIONS[name].run(options)
        took = time.perf_counter() - t
        blocks[name] = f"{text}\n\n_Section {name}: {_stamp(options)}, {took:.0f} s._"
        print(f"[bench] {name} took {took:.0f} s", file=sys.stderr, flush=True)
        print(blocks[name] + "\n", flush=True)
    print(f"[bench] total {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    if args.out != "-":
        write(Path(args.out), blocks)
    return 0


def _stamp(options: Options) -> str:
    info = machine()
    return f"{options.mode} mode, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {info['commit']}"


def _doc(module) -> str:
    """A section module's docstring without its first (title) paragraph."""
    return module.__doc__.split("\n\n", 1)[-1].strip()


def _machine_block() -> str:
    lines = "\n".join(f"- **{k}**: {v}" for k, v in machine().items() if k != "commit")
    return f"## Results\n\nThe machine of the latest run:\n\n{lines}"


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


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write(path: Path, blocks: dict[str, str]) -> None:
    """Replace the blocks of the sections that ran; keep every other block and all text outside
    the generated area. A section without a block yet gets one, in registry order."""
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        area, tail = rest.split(END, 1)
    else:
        head = (
            f"# Benchmarks\n\n```sh\n{COMMAND}\n```\n\n`--quick` (a few minutes), `--sections "
            f"{','.join(SECTIONS)}`, `--scale-calls 1000000`.\n\n"
        )
        area, tail = "", "\n"
    kept = {}
    for name in SECTIONS:
        start, end = _markers(name)
        if match := re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), area, re.S):
            kept[name] = match.group(1)
    kept.update(blocks)
    body = [_machine_block()] + [
        f"{_markers(n)[0]}\n{kept[n]}\n{_markers(n)[1]}" for n in SECTIONS if n in kept
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + START + "\n" + "\n\n".join(body) + "\n" + END + tail)


if __name__ == "__main__":
    sys.exit(main())
