"""``gameday demo`` and ``gameday tour``.

``demo`` is what ``make demo`` runs on a fresh machine: a short automatic game-day drill on
the default scenario (stack, load, fault, page, ack, mitigation, recovery, report, score,
postmortem draft), then a lint of the draft. ``tour`` starts the stack, sends real traffic,
injects one fault, shows each service's key metrics and stops. Nothing either starts
outlives it.
"""

from __future__ import annotations

import math
import time

import typer
from rich.table import Table

from gameday.stack.admin import add_fault
from gameday.stack.local import Stack
from gameday.stack.spec import build_spec
from gameday.summary import format_value, key_metrics
from gameday.traffic import percentile, send_traffic

from .render import make_console

COLUMNS = {
    "gateway": ("retries", "shed", "fallbacks", "budget_exhausted"),
    "features": ("hits", "misses"),
    "classifier": ("model_version", "mean_batch", "correct", "incorrect", "gpu_util",
                   "gpu_temp_c"),
    "llm": ("ttft_p50_s", "itl_p50_s", "tokens", "kv_cache", "preemptions"),
}


def _metrics_table(stack: Stack) -> Table:
    table = Table(title="key metrics per process", title_justify="left")
    for col in ("process", "requests", "5xx ratio", "p50", "p95", "domain"):
        table.add_column(col)
    for proc in stack.state().processes:
        row = key_metrics(proc.name, proc.url)
        # the value carries its unit (ms, %, C): the label drops the key's unit suffix
        domain = ", ".join(f"{_label(k)}={format_value(k, row[k])}"
                           for k in COLUMNS.get(proc.name, ()) if k in row)
        table.add_row(proc.id, format_value("n", row["requests"]),
                      format_value("error_ratio", row["error_ratio"]),
                      format_value("p50_s", row["p50_s"]), format_value("p95_s", row["p95_s"]),
                      domain)
    return table


def _label(key: str) -> str:
    for suffix in ("_s", "_c"):
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


DEMO_SCENARIO = "xid-error-burst"


def demo(
    scenario: str = typer.Option(DEMO_SCENARIO, "--scenario",
                                 help="Scenario of the drill (see 'gameday drill list')."),
) -> None:
    """A short automatic drill on the default scenario, with report, score and postmortem."""
    from gameday.cli.drill import run as drill_run
    from gameday.cli.render import relative
    from gameday.postmortem.lint import lint_file
    from gameday.runfolder import resolve_run

    console = make_console()
    console.print("[bold]gameday demo[/]: an automatic game-day drill; the responder is a "
                  "script that acknowledges the page and applies the runbook's mitigation",
                  highlight=False)
    try:
        drill_run(scenario=scenario, auto=True, wheel=False, seed=None, users=6,
                  ack_delay="3s", max_duration="4m", prometheus=False, attach=None,
                  stack_file=None, prometheus_url=None, webhook_listen=None,
                  role=["commander=demo-ic", "ops=auto-responder"], quiet_report=False,
                  scenarios_dir=None, responders=None, console_linger=False)
    except typer.Exit as done:
        if done.exit_code:
            raise
    draft = resolve_run(None).postmortem
    findings = lint_file(draft, allow_prompts=True)
    errors = [f for f in findings if f.level == "error"]
    console.print(f"postmortem draft {relative(draft)}: {len(errors)} error(s) apart from the "
                  f"prompts left for people ({len(findings) - len(errors)} warning(s))",
                  highlight=False)
    if errors:
        for f in errors:
            console.print(f"  line {f.line}: {f.message}", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print("next: open report.html in the run folder, then try "
                  "'gameday drill run --wheel' yourself", highlight=False)


def tour(
    requests: int = typer.Option(300, "--requests", min=10, max=5000,
                                 help="Classify requests to send through the gateway."),
    streams: int = typer.Option(8, "--streams", min=1, max=100,
                                help="Generate (token stream) requests to send."),
) -> None:
    """Start the stack on free ports, send real traffic, inject a fault, print key metrics, stop."""
    console = make_console()
    spec = build_spec(free_ports=True)
    started = time.perf_counter()
    with console.status("starting the local stack (5 processes)..."):
        stack = Stack(spec).start()
    try:
        console.print(f"[green]stack ready[/] in {time.perf_counter() - started:.1f} s, "
                      f"run folder {stack.run.path}", highlight=False)
        gateway = stack.url("gateway")
        for pid, url in stack.urls().items():
            console.print(f"  {pid:<13} {url}", highlight=False, markup=False)

        with console.status(f"sending {requests} classify and {streams} generate requests..."):
            result = send_traffic(gateway, classify=requests, generate=streams,
                                  labels_url=stack.url("features"))
        console.print(
            f"classify: {result.classify_ok} ok, {result.classify_failed} failed, "
            f"{result.degraded} degraded; generate: {result.generate_ok} streams, "
            f"{result.tokens} tokens, in {result.elapsed_s:.1f} s", highlight=False)
        if result.sample_prediction:
            p = result.sample_prediction
            console.print(f"  e.g. {p['entity_id']} -> class {p['class']} ({p['label']}) "
                          f"by model {p['model_version']} on {p['replica']}",
                          highlight=False, markup=False)
        if result.sample_text:
            console.print(f"  e.g. generated: {result.sample_text.strip()[:100]!r}",
                          highlight=False, markup=False)

        console.print("\n[bold]fault[/]: 250 ms latency on both classifier replicas, TTL 6 s",
                      highlight=False)
        procs = [p for p in stack.state().processes if p.name == "classifier"]
        add_fault(procs, stack.token, {"type": "latency", "params": {"delay_ms": 250},
                                       "route": "/v1/*", "ttl_s": 6})
        with console.status("sending traffic while the fault is active..."):
            during = send_traffic(gateway, classify=40, generate=0, concurrency=8)
        time.sleep(max(0.0, 6.5 - during.elapsed_s))
        with console.status("the fault expired by itself; sending traffic again..."):
            after = send_traffic(gateway, classify=40, generate=0, concurrency=8)
        console.print(
            f"  classify p50 before {_ms(percentile(result.classify_s, 0.5))}, during the fault "
            f"{_ms(percentile(during.classify_s, 0.5))}, after it expired "
            f"{_ms(percentile(after.classify_s, 0.5))}", highlight=False)

        console.print()
        console.print(_metrics_table(stack))
        failed = result.classify_failed + result.generate_failed
        if failed or not result.classify_ok or not result.tokens:
            console.print(f"[red]demo traffic had {failed} failures[/]")
            raise typer.Exit(1)
    finally:
        with console.status("stopping the stack..."):
            stack.stop()
    console.print(f"[green]stack stopped[/]; logs in {stack.run.logs_dir}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("tour")(tour)
