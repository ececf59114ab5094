"""PNG charts of a drill from its recording (matplotlib, Agg backend).

    draw_charts(run, metrics, out_dir) -> list[Path]

- ``error-ratio.png``: each SLO's error ratio over the catalog's shortest window, and the
  share of gateway requests answered 5xx each second;
- ``latency.png``: p50/p95/p99 of gateway ``/v1/classify`` latency (5 s rolling window,
  interpolated from histogram bucket increases as Prometheus's histogram_quantile does);
- ``burn-rate.png``: per SLO with traffic, burn rate over the page alert windows, with the
  page thresholds of the catalog.
Every chart shades the fault window(s) and marks alert firing, ack, mitigations and
recovery. The x axis is seconds since the drill started (its UTC time in the label).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gameday.display import utc  # noqa: E402
from gameday.runfolder import atomic_write  # noqa: E402
from gameday.slo.status import window_seconds  # noqa: E402
from gameday.slo.windows import load_catalog  # noqa: E402
from gameday.timeline import fault_windows  # noqa: E402

from .metrics import DrillMetrics  # noqa: E402
from .run import DEFAULT_CATALOG, RunRecord  # noqa: E402

MARKERS = {  # kind -> (label, colour, line style)
    "alert_firing": ("alert firing", "tab:red", "-"),
    "page": ("page", "tab:red", ":"),
    "ack": ("ack", "tab:orange", "-"),
    "mitigation": ("mitigation", "tab:purple", "--"),
    "recovered": ("recovered", "tab:green", "-"),
}
DPI = 100
# data series avoid the marker colours (red, orange, purple, green)
PALETTE = ("tab:blue", "tab:cyan", "tab:brown", "tab:olive", "tab:pink", "tab:gray")


def _page_thresholds(catalog: str) -> list[tuple[float, float, float]]:
    """(factor, short_s, long_s) of the catalog's page alerts; [] if it cannot be found."""
    from gameday.resources import windows_dir

    try:
        cat = load_catalog(windows_dir(), catalog)
    except Exception:  # noqa: BLE001 - thresholds are decoration; the chart still helps
        return []
    return [(a.factor, a.short_s, a.long_s) for a in cat.alerts if a.severity == "page"]


class Frame:
    """Drill time on the x axis, and the timeline decorations every chart shares."""

    def __init__(self, run: RunRecord, metrics: DrillMetrics) -> None:
        self.run, self.metrics = run, metrics
        self.origin, self.end = run.window((metrics.start, metrics.end))
        self.x = metrics.times - self.origin

    def xlabel(self) -> str:
        return f"seconds since drill start ({utc(self.origin)} UTC)"

    def decorate(self, ax) -> None:
        for n, (a, b) in enumerate(fault_windows(self.run.events)):
            b = max(self.end, self.metrics.end) if b is None else b
            ax.axvspan(a - self.origin, b - self.origin, color="tab:red", alpha=0.12,
                       label="fault window" if n == 0 else None)
        seen = set()
        for e in self.run.events:
            if e.kind not in MARKERS:
                continue
            label, colour, style = MARKERS[e.kind]
            if e.kind == "mitigation" and e.get("ok") is False:
                label, colour = "mitigation (failed)", "tab:gray"
            ax.axvline(e.ts - self.origin, color=colour, linestyle=style, linewidth=1.2,
                       label=None if label in seen else label)
            seen.add(label)
        ax.set_xlim(0, max(self.x[-1] if self.x.size else 1, self.end - self.origin, 1))
        ax.grid(True, alpha=0.3)


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def error_ratio_chart(frame: Frame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.5))
    m = frame.metrics
    for sid, slo in m.slos.items():
        if slo.short_window and not np.all(np.isnan(slo.ratios[slo.short_window])):
            ax.plot(frame.x, 100 * slo.ratios[slo.short_window], linewidth=1.6,
                    color=PALETTE[len(ax.lines) % len(PALETTE)],
                    label=f"{sid} (error ratio, {slo.short_window})")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(m.requests > 0, 100 * m.failed / m.requests, np.nan)
    if np.any(m.requests > 0):
        ax.plot(frame.x, share, color="black", linewidth=0.8, alpha=0.6,
                label="gateway 5xx share (per second)")
    frame.decorate(ax)
    ax.set_ylim(bottom=0)
    ax.set_title("Error ratio per SLO")
    ax.set_xlabel(frame.xlabel())
    ax.set_ylabel("error ratio (%)")
    _legend(ax)
    return _save(fig, path)


def latency_chart(frame: Frame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.5))
    quantiles = frame.metrics.latency_quantiles()
    for q, style, colour in zip(quantiles, ("-", "--", ":"), PALETTE, strict=False):
        ax.plot(frame.x, 1000 * quantiles[q], linestyle=style, linewidth=1.6, color=colour,
                label=f"p{q * 100:g}")
    if all(np.all(np.isnan(v)) for v in quantiles.values()):
        ax.text(0.5, 0.5, "no gateway /v1/classify latency in the recording",
                ha="center", va="center", transform=ax.transAxes)
    frame.decorate(ax)
    ax.set_ylim(bottom=0)
    ax.set_title("Gateway /v1/classify latency quantiles (5 s window)")
    ax.set_xlabel(frame.xlabel())
    ax.set_ylabel("latency (ms)")
    _legend(ax)
    return _save(fig, path)


def burn_rate_chart(frame: Frame, path: Path, catalog: str) -> Path:
    m = frame.metrics
    slos = [s for s in m.slos.values()
            if s.short_window and not np.all(np.isnan(s.ratios[s.short_window]))]
    thresholds = _page_thresholds(catalog)
    rows = max(1, len(slos))
    fig, axes = plt.subplots(rows, 1, figsize=(10, 3.2 * rows), sharex=True, squeeze=False)
    for ax, slo in zip(axes[:, 0], slos, strict=False):
        wanted = sorted({w for _, short, long in thresholds for w in (short, long)}) or \
            [window_seconds(slo.short_window)]
        for window in sorted(slo.ratios, key=window_seconds):
            if window_seconds(window) in wanted:
                ax.plot(frame.x, slo.burn(window), linewidth=1.4, label=f"burn rate {window}",
                        color=PALETTE[len(ax.lines) % len(PALETTE)])
        for factor, short, long in thresholds:
            ax.axhline(factor, color="black", linestyle="-.", linewidth=0.9,
                       label=f"page threshold {factor:g}x ({_w(short)} and {_w(long)})")
        frame.decorate(ax)
        ax.set_yscale("symlog", linthresh=1)
        top = max([ax.get_ylim()[1]] + [2 * f for f, _, _ in thresholds])
        ax.set_ylim(0, top)
        ax.set_title(f"{slo.slo_id}: burn rate (objective {slo.objective * 100:g}%)")
        ax.set_ylabel("burn rate (x budget)")
        _legend(ax)
    if not slos:
        axes[0, 0].text(0.5, 0.5, "no SLO had traffic in the recording", ha="center",
                        va="center", transform=axes[0, 0].transAxes)
        frame.decorate(axes[0, 0])
    axes[-1, 0].set_xlabel(frame.xlabel())
    fig.suptitle("Burn rate per SLO, with the page thresholds")
    return _save(fig, path)


def _legend(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)


def _w(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


def draw_charts(run: RunRecord, metrics: DrillMetrics, out_dir: Path) -> list[Path]:
    """Write the three charts into ``out_dir``; returns their paths."""
    frame = Frame(run, metrics)
    catalog = str(run.drill.get("catalog") or DEFAULT_CATALOG)
    return [error_ratio_chart(frame, out_dir / "error-ratio.png"),
            latency_chart(frame, out_dir / "latency.png"),
            burn_rate_chart(frame, out_dir / "burn-rate.png", catalog)]
