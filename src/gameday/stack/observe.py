"""What watches the stack: the embedded engine (always) and real Prometheus (on request).

The supervisor owns one ``Observers``. The embedded monitor scrapes, records and evaluates the
generated SLO rules and serves them through a Prometheus-compatible query API on loopback.
With ``stack.prometheus=true`` (``gameday up --prometheus``) a real Prometheus is started as
well, with the same rule files and one scrape job per service; it is launched together with
the services so that its start-up overlaps theirs, and the stack is ready only once it is.

The run's ``stack.json`` carries the URLs: ``query_url`` (Prometheus when it runs, else the
embedded engine), ``embedded_url`` and ``prometheus_url``. Readers use ``query_url``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gameday.errors import StackError
from gameday.runfolder import Run
from gameday.stack.events import EventLog
from gameday.stack.plan import free_port
from gameday.stack.process import _die_with_parent


def rule_files(rules_dir: Path | None) -> list[Path]:
    from gameday.resources import rule_files as files_of

    return files_of(rules_dir)


class Observers:
    def __init__(self, run_path: Path, settings, events: EventLog) -> None:
        from gameday.stack.monitor import default_rules_dir

        self.run_path = Path(run_path)
        self.settings = settings
        self.events = events
        self.rules_dir = default_rules_dir(settings.catalog)
        self.monitor = None
        self.prometheus = None
        self.alertmanager = None
        self.embedded_url: str | None = None

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus is not None else None

    @property
    def alertmanager_url(self) -> str | None:
        return self.alertmanager.url if self.alertmanager is not None else None

    @property
    def query_url(self) -> str | None:
        return self.prometheus_url or self.embedded_url

    # -- Prometheus: launched with the services ---------------------------------------------
    def launch_prometheus(self, targets: dict[str, list[str]]) -> None:
        if not self.settings.prometheus:
            return
        from gameday.prometheus.server import PrometheusConfig, PrometheusServer

        if self.rules_dir is None:
            raise StackError(f"stack.prometheus: no generated rules for catalog "
                             f"{self.settings.catalog!r} (run 'gameday slo generate')")
        port = self.settings.prometheus_port or free_port()
        config = PrometheusConfig(targets=targets, rule_files=rule_files(self.rules_dir))
        if self.settings.alert_webhook:
            from urllib.parse import urlsplit

            config.alertmanager = self._launch_alertmanager()
            # the webhook is the drill controller's: it also serves the drill's events
            config.drill = urlsplit(self.settings.alert_webhook).netloc
        self.prometheus = PrometheusServer(config, Run(self.run_path).prometheus_dir, port,
                                           preexec_fn=_die_with_parent(os.getpid()))
        self.prometheus.launch()
        self.events.emit("prometheus_starting", url=self.prometheus.url,
                         rules=str(self.rules_dir))

    def _launch_alertmanager(self) -> str:
        from gameday.prometheus.alertmanager import AlertmanagerConfig, AlertmanagerServer

        config = AlertmanagerConfig(webhook_url=self.settings.alert_webhook)
        self.alertmanager = AlertmanagerServer(config, Run(self.run_path).alertmanager_dir,
                                               free_port(),
                                               preexec_fn=_die_with_parent(os.getpid()))
        self.alertmanager.launch()
        self.events.emit("alertmanager_starting", url=self.alertmanager.url,
                         webhook=self.settings.alert_webhook)
        return self.alertmanager.address

    def prometheus_ready(self) -> bool:
        """True when there is no Prometheus to wait for, or it (and Alertmanager) is ready."""
        if self.prometheus is None:
            return True
        if self.alertmanager is not None:
            code = self.alertmanager.exited()
            if code is not None:
                raise StackError(f"alertmanager exited with code {code}; see "
                                 f"{self.alertmanager.log_path}")
            if not self.alertmanager.ready():
                return False
        code = self.prometheus.exited()
        if code is not None:
            raise StackError(f"prometheus exited with code {code}; see "
                             f"{self.prometheus.log_path}")
        from gameday.prometheus.api import PrometheusAPI

        api = PrometheusAPI(self.prometheus.url, timeout_s=0.5)
        try:
            return api.ready()
        finally:
            api.close()

    # -- the embedded monitor: started once every service is ready ---------------------------
    def start_monitor(self, targets: dict[str, list[str]]) -> None:
        """Never fatal to the stack: a failure is an event in the supervisor log."""
        if not self.settings.monitor:
            return
        try:
            from gameday.stack.monitor import Monitor

            self.monitor = Monitor(self.run_path, targets, self.rules_dir).start()
            self.embedded_url = self.monitor.url
            self.events.emit("monitor_started", rules=str(self.rules_dir),
                             url=self.embedded_url)
        except Exception as err:
            self.events.emit("monitor_error", error=repr(err))

    def update_targets(self, targets: dict[str, list[str]]) -> None:
        """After scaling: scrape the new set of replicas (embedded engine and Prometheus)."""
        if self.monitor is not None and self.monitor.engine.scraper is not None:
            from gameday.engine.scraper import targets_from_urls

            self.monitor.targets = targets
            self.monitor.engine.scraper.targets = targets_from_urls(targets)
        if self.prometheus is not None:
            try:
                self.prometheus.reload(targets)
            except Exception as err:
                self.events.emit("prometheus_error", error=repr(err))

    def stop(self) -> None:
        for name in ("monitor", "prometheus", "alertmanager"):
            thing = getattr(self, name)
            if thing is None:
                continue
            try:
                thing.stop()
            except Exception as err:
                self.events.emit(f"{name}_error", error=repr(err))
            setattr(self, name, None)
        self.embedded_url = None
