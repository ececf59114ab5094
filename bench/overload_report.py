"""bench_overload's arithmetic, tables and chart (pure: no stack, no network).

Capacity is measured, not assumed, at the start of every round (the host's speed drifts:
bench/README.md, section 3): the closed-loop ramp's peak goodput among the steps whose p99
is within the latency threshold. Loads are multiples of 1x = ``BASE_SHARE`` of that
capacity (a load a service is sized for, below the knee), and goodput is reported as a
share of the round's capacity, the same denominator for every mode and load of a round.
Beside it, the open-loop capacity at the SLO (the highest rate independent users can send
with nothing shed and p99 within the threshold) and the share of that.
"""

from __future__ import annotations

from pathlib import Path

import benchlib as bl

BASE_SHARE = 0.8  # 1x: 80% of the measured capacity
TARGET_SHARE = 0.9  # issue 20: adaptive goodput at 2x and 4x >= 90% of capacity
BUCKET_S = 0.5  # latency over time, per half second


def summarize(results: list, duration: float, threshold_s: float) -> dict:
    """Goodput and the rest from (status, latency_s, fallback[, due_s]) per request.

    Good, as the gateway's SLOs count: 200 with a model answer (a cached answer or a
    most-frequent-class guess is a fallback, bad for the availability SLO), within the
    latency threshold. Admitted: every request not shed with 429 (timeouts included)."""
    ok = [r[1] for r in results if r[0] == 200 and not r[2]]
    good = [lat for lat in ok if lat <= threshold_s]
    admitted = [r[1] for r in results if r[0] != 429]
    return {"sent": len(results), "ok": len(ok), "good": len(good),
            "shed_429": sum(1 for r in results if r[0] == 429),
            "fallbacks": sum(1 for r in results if r[0] == 200 and r[2]),
            "errors": sum(1 for r in results if r[0] not in (200, 429)),
            "rps": len(results) / duration, "goodput": len(good) / duration,
            "ok_p99_ms": bl.percentile(ok, 99) * 1000,
            "admitted_p50_ms": bl.percentile(admitted, 50) * 1000,
            "admitted_p99_ms": bl.percentile(admitted, 99) * 1000}


def knee_steps(ramp: list[dict]) -> list[dict]:
    """Ramp summaries as find_knee wants them (users, rps, p99_ms)."""
    return [{"users": s["users"], "rps": s["ok"] / s["duration_s"], "p99_ms": s["ok_p99_ms"]}
            for s in ramp]


def with_capacity(row: dict, capacity: dict) -> dict:
    """A run's summary with its round's capacities and its goodput's share of each."""
    return {**row, "capacity": capacity["closed"], "open_capacity": capacity["open"],
            "share": bl.ratio(row["goodput"], capacity["closed"]),
            "open_share": bl.ratio(row["goodput"], capacity["open"])}


def peak_step(ramp: list[dict], threshold_ms: float) -> dict:
    """The ramp's step of highest goodput among those with p99 within the threshold (among
    all steps when none is)."""
    within = [s for s in ramp if s["ok_p99_ms"] <= threshold_ms] or ramp
    return max(within, key=lambda s: s["goodput"])


def capacity_from_ramp(ramp: list[dict], threshold_ms: float) -> float:
    """The ramp's peak goodput within the threshold: the round's capacity."""
    return peak_step(ramp, threshold_ms)["goodput"]


def peak_users(ramp: list[dict], threshold_ms: float) -> int:
    """The clients of the step whose goodput is the capacity."""
    return peak_step(ramp, threshold_ms)["users"]


def served_ms(ramp: list[dict], threshold_ms: float) -> float | None:
    """Milliseconds of CPU (every stack process and the generator) per good answer at the
    ramp's peak step; None when the steps carry no CPU or no good answer."""
    step = peak_step(ramp, threshold_ms)
    if "stack_cpu_s" not in step or not step["good"]:
        return None
    return (step["stack_cpu_s"] + step["generator_cpu_s"]) * 1000 / step["good"]


def refused_ms(refusal: dict | None) -> float | None:
    """Milliseconds of CPU per refusal: the gateway's and the generator's."""
    if not refusal or refusal.get("gateway_ms") is None or refusal.get("generator_ms") is None:
        return None
    return refusal["gateway_ms"] + refusal["generator_ms"]


def keep_at(load: float, refused: float, served: float) -> float:
    """The share of the capacity goodput can keep with ``load`` times the capacity offered,
    when a refusal costs ``refused`` and a served answer ``served`` of the CPU the capacity
    used: ``G * served + (load * C - G) * refused = C * served``, so
    ``G / C = (1 - load * x) / (1 - x)`` with ``x = refused / served`` (bench/refusal_cost.py).
    1.0 at or below the capacity."""
    if load <= 1:
        return 1.0
    x = refused / served
    if x >= 1:
        return 0.0
    return max(0.0, min(1.0, (1 - load * x) / (1 - x)))


def estimate(capacity: dict, load: int) -> float | None:
    """The round's estimate of the most goodput kept at ``load`` (2 or 4: x 1x), as a share
    of its capacity; None when the round did not measure the costs."""
    refused, served = refused_ms(capacity.get("refusal")), capacity.get("served_ms")
    if refused is None or not served:
        return None
    return keep_at(BASE_SHARE * load, refused, served)


def estimate_text(capacity: dict) -> str:
    values = [estimate(capacity, load) for load in (2, 4)]
    return " / ".join("n/a" if v is None else bl.pct(v, 0) for v in values)


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def tuned_in_flight(steps: list[dict], threshold_ms: float) -> int:
    """Concurrency of the last ramp step whose p99 is under the threshold (at least 1)."""
    under = [s["users"] for s in steps if s["p99_ms"] <= threshold_ms]
    return max(under) if under else 1


def median_rows(rounds: list[dict]) -> dict:
    """Per mode and load, the median over rounds of every number the summaries share."""
    out: dict = {}
    for mode in rounds[0]:
        out[mode] = {}
        for load in rounds[0][mode]:
            cells = [rnd[mode][load] for rnd in rounds if load in rnd.get(mode, {})]
            out[mode][load] = {k: bl.median([c[k] for c in cells]) for k in cells[0]
                               if all(k in c for c in cells)}
    return out


def _at(by_load: dict, load: int) -> dict | None:
    return by_load.get(load) or by_load.get(str(load))


def verdicts(rounds: list[dict], threshold_ms: float) -> dict:
    """Per mode: at 2x and 4x, goodput >= 90% of its round's capacity and p99 of admitted
    under the threshold in every round (loads a run did not have are left out); the worst
    share of the open-loop capacity beside it; for ``adaptive`` also its median goodput at
    4x against ``tuned``'s."""
    out: dict = {}
    for mode in rounds[0]:
        cells = [(load, _at(rnd[mode], load)) for rnd in rounds for load in (2, 4)
                 if mode in rnd and _at(rnd[mode], load)]
        if not cells:
            continue
        worst = min(r["share"] for _, r in cells)
        worst_p99 = max(r["admitted_p99_ms"] for _, r in cells)
        out[mode] = {"worst_share": worst, "worst_p99_ms": worst_p99,
                     "worst_open_share": min(r["open_share"] for _, r in cells),
                     "met": worst >= TARGET_SHARE and worst_p99 <= threshold_ms}
    if "adaptive" in out and "tuned" in out:
        med = {m: bl.median([_at(rnd[m], 4)["goodput"] for rnd in rounds
                             if _at(rnd.get(m, {}), 4)] or [0.0]) for m in ("adaptive", "tuned")}
        out["adaptive"]["goodput_4x"] = med["adaptive"]
        out["adaptive"]["tuned_goodput_4x"] = med["tuned"]
        out["adaptive"]["matches_tuned"] = med["adaptive"] >= med["tuned"]
    return out


def mode_label(mode: str, admission: dict) -> str:
    """``tuned (16)``; ``adaptive (<=256)``: the cap, or the adaptive limit's ceiling."""
    cap = admission["max_in_flight"]
    return f"{mode} (<={cap})" if admission.get("adaptive_limit") else f"{mode} ({cap})"


def limit_range(trace: list | None) -> str:
    """``12-19``: the lowest and highest limit polled during a run."""
    values = [v for _, v in trace or () if v is not None]
    return f"{min(values):g}-{max(values):g}" if values else "-"


def round_table(rounds: list[dict], admission: list[dict],
                traces: dict | None = None) -> str:
    """Every run of every round: one row each (``admission[k]``: round k's modes)."""
    rows = []
    for k, rnd in enumerate(rounds):
        for mode, by_load in rnd.items():
            for load, r in sorted(by_load.items(), key=lambda kv: int(kv[0])):
                trace = ((traces or {}).get(mode) or {}).get(str(load)) or []
                rows.append([k + 1, mode_label(mode, admission[k][mode]), f"{load}x",
                             r["rps"], r["goodput"], bl.pct(r["share"], 0),
                             bl.pct(r["open_share"], 0), r["admitted_p99_ms"], r["shed_429"],
                             r["fallbacks"], r["errors"],
                             limit_range(trace[k] if k < len(trace) else None),
                             r.get("host_loop_ms", "-")])
    return bl.markdown_table(["round", "admission (max_in_flight)", "load", "sent/s",
                              "goodput/s", "of capacity", "of open-loop capacity",
                              "p99 admitted ms", "shed 429", "fallbacks", "errors",
                              "limit polled", "host loop ms"], rows)


def median_table(rows: dict, admission: dict) -> str:
    out = []
    for mode, by_load in rows.items():
        for load, r in sorted(by_load.items(), key=lambda kv: int(kv[0])):
            out.append([mode_label(mode, admission[mode]), f"{load}x", r["rps"], r["goodput"],
                        bl.pct(r["share"], 0), bl.pct(r["open_share"], 0),
                        r["admitted_p99_ms"], r["shed_429"], r["fallbacks"], r["errors"]])
    return bl.markdown_table(["admission (max_in_flight)", "load", "sent/s", "goodput/s",
                              "of capacity", "of open-loop capacity", "p99 admitted ms",
                              "shed 429", "fallbacks", "errors"], out)


def capacity_table(capacities: list[dict]) -> str:
    """Each round's capacities, tuned cap and 1x, and the peak step run again at the end of
    the round (how far this host's speed drifted while the round ran)."""
    rows = [[k + 1, c["closed"], c["open"], bl.pct(bl.ratio(c["open"], c["closed"]), 0),
             c["tuned"], c["closed"] * BASE_SHARE, c.get("closed_end"),
             signed_pct(drift(c)), fmt_ms(c.get("served_ms")),
             fmt_ms((c.get("refusal") or {}).get("gateway_ms")),
             fmt_ms((c.get("refusal") or {}).get("generator_ms")), estimate_text(c)]
            for k, c in enumerate(capacities)]
    return bl.markdown_table(["round", "capacity/s (closed-loop ramp peak within the SLO)",
                              "open-loop capacity/s (nothing shed, p99 within the SLO)",
                              "open of closed", "tuned max_in_flight", "1x rps",
                              "peak step again at the round's end, goodput/s",
                              "change", "CPU ms a served answer",
                              "CPU ms a refusal: gateway", "generator",
                              "estimated most kept at 2x / 4x"], rows)


def signed_pct(x: float) -> str:
    return "n/a" if x != x else f"{x:+.0%}"


def drift(capacity: dict) -> float:
    """The peak step's goodput at the end of the round against the capacity at its start,
    as a change (-0.1: 10% slower); NaN when the round did not run it again."""
    end = capacity.get("closed_end")
    return float("nan") if end is None else bl.ratio(end, capacity["closed"]) - 1


def report(res: dict) -> str:
    threshold = res["threshold_ms"]
    lines = [f"capacity, measured at the start of every round: the closed-loop ramp's peak "
             f"goodput within {threshold:g} ms; 1x = {bl.pct(BASE_SHARE, 0)} of it; 'of "
             f"capacity' = goodput / the round's capacity",
             capacity_table(res["capacities"]),
             "", "Every round:", round_table(res["rounds"], res["admission"],
                                             res.get("limit_trace")),
             "", f"Medians of {len(res['rounds'])} round(s) (tuned: the last round's cap):",
             median_table(res["rows"], res["admission"][-1]), ""]
    for mode, v in res["verdicts"].items():
        head = (f"{mode}: at 2x and 4x, goodput at least {bl.pct(v['worst_share'], 0)} of "
                f"capacity ({bl.pct(v['worst_open_share'], 0)} of the open-loop capacity) "
                f"and p99 of admitted at most {v['worst_p99_ms']:.0f} ms in every round")
        if mode == "off":  # no shedding: the point is to show the collapse
            lines.append(f"{head}: collapse {'NOT shown' if v['met'] else 'shown'}")
            continue
        lines.append(f"{head} (target {bl.pct(TARGET_SHARE, 0)}, {threshold:g} ms): "
                     f"{bl.verdict(v['met'])}")
        if mode == "adaptive":
            lines.append(estimate_line(res["capacities"], res["rounds"]))
        if "matches_tuned" in v:
            lines.append(f"adaptive vs tuned at 4x (median goodput): {v['goodput_4x']:.1f}/s "
                         f"vs {v['tuned_goodput_4x']:.1f}/s: {bl.verdict(v['matches_tuned'])}")
    return "\n".join(lines)


def estimate_line(capacities: list[dict], rounds: list[dict]) -> str:
    """Adaptive's goodput at 2x and 4x against each round's CPU estimate of the most any
    admission could keep (the verdict above stays against the capacity)."""
    parts = []
    for load in (2, 4):
        cells = []
        for cap, rnd in zip(capacities, rounds, strict=True):
            run, est = _at(rnd.get("adaptive", {}), load), estimate(cap, load)
            if run and est:
                cells.append(f"{bl.pct(run['share'], 0)} of {bl.pct(est, 0)}")
        parts.append(f"{load}x " + (", ".join(cells) or "n/a"))
    return ("adaptive's share of capacity against the round's CPU estimate of the most any "
            "admission keeps (bench/refusal_cost.py): " + "; ".join(parts))


def latency_buckets(results: list, bucket_s: float = BUCKET_S) -> list[tuple[float, float]]:
    """(bucket start s, p99 ms of admitted requests due in it) over a run's timeline."""
    by: dict[int, list[float]] = {}
    for status, lat, _fb, due in results:
        if status != 429:
            by.setdefault(int(due // bucket_s), []).append(lat)
    return [(k * bucket_s, bl.percentile(v, 99) * 1000) for k, v in sorted(by.items())]


def chart(traces: dict, latencies: dict, threshold_ms: float, path: Path) -> Path:
    """The adaptive limit and the p99 of admitted requests over each run's time, one column
    per load, one line per round. ``traces[load][round]``: [(s, limit)];
    ``latencies[load][round]``: [(s, p99 ms)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loads = sorted(traces, key=int)
    fig, axes = plt.subplots(2, len(loads), figsize=(4.5 * len(loads), 6), squeeze=False,
                             sharex=True)
    for col, load in enumerate(loads):
        top, bottom = axes[0][col], axes[1][col]
        for k, trace in enumerate(traces[load]):
            points = [(t, v) for t, v in trace if v is not None]
            if points:
                top.step([t for t, _ in points], [v for _, v in points], where="post",
                         label=f"round {k + 1}")
        for k, lat in enumerate(latencies.get(load) or ()):
            if lat:
                bottom.plot([t for t, _ in lat], [v for _, v in lat], label=f"round {k + 1}")
        bottom.axhline(threshold_ms, color="red", linestyle="--", linewidth=1,
                       label=f"threshold {threshold_ms:g} ms")
        top.set_title(f"adaptive at {load}x")
        top.set_ylabel("gateway_concurrency_limit")
        bottom.set_ylabel("p99 admitted (ms, per 0.5 s)")
        bottom.set_xlabel("seconds into the run")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
