"""report.md and report.html of a run folder, with PNG charts.

    write_report(run_path, rescore=False) -> list[Path]

Writes, each atomically (temp file + rename): ``score.json`` (when absent, or always with
``rescore``), ``charts/*.png``, ``report.md`` (links the PNGs in ``charts/``) and
``report.html`` (self-contained: the PNGs are embedded as base64 data URIs, so the one file
can be attached to a ticket or mailed). Templates: ``report/templates/*.j2``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import jinja2

from gameday.display import elapsed, percent, utc
from gameday.runfolder import Run, atomic_write, read_json, write_json
from gameday.slo.consumption import events_text, format_consumed
from gameday.timeline import PHASES

from .charts import draw_charts
from .run import RunRecord, load_run
from .score import DURATIONS, compute_score, metrics_for

TEMPLATES = Path(__file__).parent / "templates"
CHART_TITLES = {"error-ratio.png": "Error ratio per SLO", "latency.png": "Gateway latency",
                "burn-rate.png": "Burn rate per SLO"}


def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=autoescape,
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _lever_cost(grade) -> str:
    from .points import LEVER_COST

    cost = LEVER_COST.get(grade)
    return f"-{cost}" if cost else "0"


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _describe(e) -> str:
    bits = [e.text] if e.text else []
    for key in ("alert", "severity", "service", "lever", "ok", "slo_id", "correct"):
        value = e.get(key)
        if value not in (None, "") and str(value) not in e.text:
            bits.append(f"{key}={value}")
    fault = e.get("fault")
    if isinstance(fault, dict) and fault.get("type"):
        bits.append(f"fault={fault['type']}")
    return "; ".join(bits)


def _runbook_link(url: str, run_path: Path) -> str:
    from gameday.resources import find_file

    if "://" in url:
        return url
    target = find_file(url)
    return os.path.relpath(target.resolve(), run_path.resolve()) if target else url


def _runbooks(run: RunRecord) -> list[dict]:
    urls = [e.get("runbook_url") for e in run.events if e.get("runbook_url")]
    urls += [u for u in run.drill.get("runbooks") or [] if isinstance(u, str)]
    return [{"name": Path(u).stem, "url": u, "link": _runbook_link(u, run.path)}
            for u in dict.fromkeys(urls)]


def build_context(run: RunRecord, score: dict, charts: list[Path]) -> dict:
    phases = score.get("phases") or {}
    start = phases.get("impact_start")
    window = score.get("window") or {}
    origin = window.get("start") or (run.events[0].ts if run.events else None)
    expected = run.drill.get("expected") or {}
    by_phase = {p: k for k, p in DURATIONS}
    rows, prev = [], None
    for key, label, _ in PHASES:
        ts = phases.get(key)
        limit = expected.get(f"{by_phase.get(key)}_s") if key in by_phase else None
        rows.append({"label": label, "at": utc(ts),
                     "since_start": elapsed(ts - start) if ts and start else "-",
                     "since_prev": elapsed(ts - prev) if ts and prev else "-",
                     "expected": elapsed(limit) if isinstance(limit, int | float) else "-"})
        prev = ts or prev
    requests = score.get("requests") or {}
    return {
        "title": score.get("title") or run.drill.get("title") or score.get("scenario")
        or run.run_id,
        "run_id": score.get("run_id") or run.run_id, "scenario": score.get("scenario") or "-",
        "mode": score.get("mode") or "-", "briefing": run.drill.get("briefing") or "",
        "window": {"start": utc(window.get("start")), "end": utc(window.get("end")),
                   "duration": elapsed(window.get("duration_s"))},
        "partial": score.get("partial", False),
        "verdict": score.get("verdict") or {"result": "-", "checks": [], "reasons": []},
        "phases": rows,
        "requests": {"total": requests.get("total"), "failed": requests.get("failed"),
                     "failed_ratio": percent(requests.get("failed_ratio"), 2),
                     "fallbacks": requests.get("fallbacks")},
        "slos": [{"slo_id": s.get("slo_id"), "objective": percent(s.get("objective"), 2),
                  "consumed": format_consumed(s.get("budget_consumed")),
                  "events": events_text(s.get("events")),
                  "peak_burn": "-" if s.get("peak_burn") is None else f"{s['peak_burn']:.1f}x",
                  "traffic": "yes" if s.get("traffic") else "no"}
                 for s in score.get("slos") or [] if isinstance(s, dict)],
        "budget_method": score.get("budget_method") or "",
        "detecting": score.get("detecting_alert"),
        "pages": [dict(p, at=utc(p.get("ts"))) for p in score.get("pages") or []],
        "mitigations": [dict(m, at=utc(m.get("ts")),
                             call="-" if m.get("ok") is None else ("ok" if m["ok"] else "failed"),
                             cost=_lever_cost(m.get("grade")))
                        for m in score.get("mitigations") or []],
        "points": score.get("points"),
        "hints": dict(score.get("hints") or {}, events=[
            dict(h, at=utc(h.get("ts"))) for h in (score.get("hints") or {}).get("events") or []]),
        "diagnosis": score.get("diagnosis"),
        "timeline": [{"offset": elapsed(e.ts - origin) if origin else "-", "at": utc(e.ts),
                      "who": e.who or "-", "kind": e.kind, "text": _describe(e)}
                     for e in run.events],
        "charts": [{"title": CHART_TITLES.get(p.name, p.stem), "file": f"{p.parent.name}/{p.name}",
                    "data_uri": "data:image/png;base64,"
                    + base64.b64encode(p.read_bytes()).decode("ascii")} for p in charts],
        "runbooks": _runbooks(run),
        "notes": score.get("notes") or [],
    }


def write_report(run_path: Path, rescore: bool = False) -> list[Path]:
    """Write score.json (if absent or ``rescore``), charts/*.png, report.md and
    report.html into the run folder; returns the paths written."""
    run_path = Path(run_path)
    run = load_run(run_path)
    metrics = metrics_for(run)
    written: list[Path] = []
    computed = compute_score(run_path, metrics=metrics, run=run)
    folder = Run(run_path)
    score_path = folder.score
    if rescore or not score_path.exists():
        write_json(score_path, computed)
        written.append(score_path)
        score = computed
    else:  # the drill's own figures win; what they lack comes from the recording
        score = {**computed, **read_json(score_path)}
    charts = draw_charts(run, metrics, folder.charts_dir) if metrics else []
    written += charts
    context = build_context(run, score, charts)
    md = _env(False)
    md.filters["cell"] = _md_cell
    written.append(atomic_write(folder.report_md,
                                md.get_template("report.md.j2").render(**context)))
    written.append(atomic_write(folder.report_html,
                                _env(True).get_template("report.html.j2").render(**context)))
    return written
