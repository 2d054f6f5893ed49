"""``calllog-pipeline report``: the QA scorecard from the lake, for people.

``table`` prints it, ``csv``/``json`` give every metric for other tools, ``html`` writes one
self-contained file (no network: inline SVG and a few lines of script) with a chart per headline
metric over the range, the anomalies marked in red.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from calllog_pipeline.lake import Lake
from calllog_pipeline.qa.anomalies import Finding, Thresholds
from calllog_pipeline.qa.catalog import BY_NAME, HEADLINE, METRICS
from calllog_pipeline.qa.judge import judge_stored_day, read_rows
from calllog_pipeline.qa.scorecard import days, describe, fmt

FORMATS = ("table", "csv", "json", "html")


def register(commands) -> None:
    report = commands.add_parser("report", help="print the QA scorecard of a date range from the lake")
    report.add_argument(
        "--from", dest="first", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD"
    )
    report.add_argument(
        "--to", dest="last", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD"
    )
    report.add_argument("--provider", help="one provider (default: all in the lake)")
    report.add_argument("--agent", help="one agent (id or name): its rows from qa_agent_daily")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--output", help="html: the file to write (default qa-report-FROM-TO.html)")
    report.add_argument("--data-dir", default=os.environ.get("CALLLOG_DATA_DIR", "./data"), help="lake root")
    report.set_defaults(run=run_report)


@dataclass
class Report:
    first: date
    last: date
    rows: list[dict] = field(default_factory=list)  # date, provider, [agent_id, agent_name], metrics
    anomalies: list[Finding] = field(default_factory=list)
    agent: str | None = None

    def series_key(self, row: dict) -> str:
        return row["provider"] + (f" / {row.get('agent_name') or row['agent_id']}" if self.agent else "")


def providers_in(lake: Lake) -> list[str]:
    root = f"{lake.root.rstrip('/')}/qa_provider_daily"
    if not lake.exists(root):
        return []
    names = {p.rsplit("provider=", 1)[-1].split("/")[0] for p in lake.fs.glob(f"{root}/*/provider=*")}
    return sorted(names)


def build_report(
    lake: Lake, first: date, last: date, provider: str | None = None, agent: str | None = None
) -> Report:
    report = Report(first, last, agent=agent)
    thresholds, cache = Thresholds(), {}
    for name in [provider] if provider else providers_in(lake):
        for day in days(first, last):
            table = "qa_agent_daily" if agent else "qa_provider_daily"
            for row in read_rows(lake, table, name, day) or []:
                if agent and agent not in (row["agent_id"], row.get("agent_name")):
                    continue
                report.rows.append({"date": day, "provider": name, **row})
            judged = judge_stored_day(lake, name, day, thresholds, cache)
            if judged:
                report.anomalies += [
                    f for f in judged.findings if not agent or f.agent in (agent, None) or agent in f.agents
                ]
    return report


def run_report(args: argparse.Namespace) -> int:
    if args.last < args.first:
        print("report: --to is before --from", file=sys.stderr)
        return 2
    lake = Lake(root=args.data_dir)
    if args.provider and args.provider not in (known := providers_in(lake)):
        print(
            f"report: no provider {args.provider!r} in {args.data_dir}'s QA scorecard "
            f"(it has: {', '.join(known) or 'none'})",
            file=sys.stderr,
        )
        return 2
    report = build_report(lake, args.first, args.last, args.provider, args.agent)
    if not report.rows:
        print(
            f"report: no QA scorecard in {args.data_dir} for {args.first} .. {args.last}: materialize the qa "
            "assets for those days first (e.g. `calllog-pipeline demo`, or the qa/* assets in the UI).",
            file=sys.stderr,
        )
        return 1
    if args.format == "html":
        path = Path(args.output or f"qa-report-{args.first}-{args.last}.html")
        path.write_text(render_html(report))
        print(f"wrote {path.resolve()}")
    else:
        print({"table": render_table, "csv": render_csv, "json": render_json}[args.format](report), end="")
    return 0


# --- text formats --------------------------------------------------------------------------------------


def _keys(report: Report) -> list[str]:
    return ["date", "provider", *(["agent_id", "agent_name"] if report.agent else [])]


def render_table(report: Report) -> str:
    keys = _keys(report)
    header = [*keys, *(m.title for m in HEADLINE)]
    body = [
        [str(r.get(k) or "") for k in keys] + [fmt(m, r.get(m.name)) for m in HEADLINE] for r in report.rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    lines += ["", f"Anomalies: {len(report.anomalies) or 'none'}"]
    lines += [f"  {describe(f)}" for f in report.anomalies]
    return "\n".join(lines) + "\n"


def render_csv(report: Report) -> str:
    columns = [*_keys(report), *(m.name for m in METRICS)]
    out = _Buffer()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(report.rows)
    return out.text


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def render_json(report: Report) -> str:
    return (
        json.dumps(
            {
                "from": report.first.isoformat(),
                "to": report.last.isoformat(),
                "rows": report.rows,
                "anomalies": [f.payload() for f in report.anomalies],
            },
            indent=2,
            default=str,
        )
        + "\n"
    )


# --- html ----------------------------------------------------------------------------------------------

COLOURS = ("#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea")
WIDTH, HEIGHT, PAD = 640, 220, 44

# Marks the page once the browser has laid out every chart (a headless test reads it back).
DRAWN_SCRIPT = """
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('svg.chart');
  var drawn = 0;
  charts.forEach(function (svg) {
    var lines = svg.querySelectorAll('polyline.series, circle.point');
    var ok = Array.prototype.some.call(lines, function (el) {
      var box = el.getBBox(); return box.width > 0 || box.height > 0;
    });
    if (ok) { drawn += 1; svg.setAttribute('data-drawn', 'true'); }
  });
  document.body.setAttribute('data-charts-drawn', String(drawn));
});
"""


def _series(report: Report, metric: str) -> dict[str, list[tuple[str, float]]]:
    series: dict[str, list[tuple[str, float]]] = {}
    for row in report.rows:
        if row.get(metric) is not None:  # as stored: a count stays an int and reads "2", not "2.00"
            series.setdefault(report.series_key(row), []).append((row["date"], row[metric]))
    return series


def _chart(report: Report, metric: str) -> str:
    m = BY_NAME[metric]
    all_days = list(days(report.first, report.last))
    series = _series(report, metric)
    values = [v for points in series.values() for _, v in points]
    title = f"<h3>{html.escape(m.title)} <small>({html.escape(m.unit)})</small></h3>"
    if not values:
        return f'<section>{title}<p class="empty">no provider reports this metric in the range</p></section>'
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1

    def x(day: str) -> float:
        i = all_days.index(day)
        return PAD + (WIDTH - 2 * PAD) * (i / max(1, len(all_days) - 1))

    def y(value: float) -> float:
        return HEIGHT - PAD + (value - low) / (high - low) * (2 * PAD - HEIGHT)

    parts = [
        f'<svg class="chart" data-metric="{metric}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{html.escape(m.title)}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{html.escape(fmt(m, high))}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end">{html.escape(fmt(m, low))}</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 16}">{all_days[0]}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end">{all_days[-1]}</text>',
    ]
    flagged: dict[tuple[str, str], list[str]] = {}  # (day, provider) -> who moved
    for f in report.anomalies:
        if f.metric == metric:
            flagged.setdefault((f.date, f.provider), []).append(
                f"agent {f.agent}" if f.agent else "all agents"
            )
    # the same colour for a provider (or agent) in every chart
    names = sorted({report.series_key(r) for r in report.rows})
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[names.index(name) % len(COLOURS)]
        coords = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
        parts.append(f'<polyline class="series" points="{coords}" stroke="{colour}"/>')
        for d, v in points:
            provider = name.split(" / ")[0]
            anomaly = (d, provider) in flagged
            # an agent's anomaly marks its provider's point too: say whose it is
            who = f" ({', '.join(flagged[(d, provider)])})" if anomaly else ""
            label = f"{name} {d}: {fmt(m, v)}" + (f" - ANOMALY{who}" if anomaly else "")
            css = "point anomaly" if anomaly else "point"
            radius = 6 if anomaly else 2.5
            parts.append(
                f'<circle class="{css}" cx="{x(d):.1f}" cy="{y(v):.1f}" r="{radius}" fill="{colour}">'
                f"<title>{html.escape(label)}</title></circle>"
            )
        parts.append(
            f'<text x="{WIDTH - PAD + 4}" y="{PAD + 14 * n}" style="fill: {colour}" class="legend">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return f"<section>{title}{''.join(parts)}</section>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #111; }
svg.chart { background: #fafafa; border: 1px solid #ddd; overflow: visible; }
svg.chart text { font-size: 11px; fill: #555; }
svg.chart .axis { stroke: #999; stroke-width: 1; }
svg.chart polyline.series { fill: none; stroke-width: 2; }
svg.chart circle.anomaly { fill: #dc2626; stroke: #7f1d1d; stroke-width: 2; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
li.anomaly { color: #b91c1c; }
section { margin-bottom: 1.5rem; }
"""


def render_html(report: Report) -> str:
    title = f"QA report {report.first} .. {report.last}"
    if report.agent:
        title += f", agent {report.agent}"
    anomalies = "".join(f'<li class="anomaly">{html.escape(describe(f))}</li>' for f in report.anomalies)
    table = render_table(report).split("\n\nAnomalies")[0]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<h2>Anomalies</h2><ul>{anomalies or '<li>none</li>'}</ul>"
        + "".join(_chart(report, m.name) for m in HEADLINE)
        + f"<h2>Scorecard</h2><pre>{html.escape(table)}</pre>"
        f"<script>{DRAWN_SCRIPT}</script></body></html>"
    )
