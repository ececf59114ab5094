"""Running a real Prometheus on loopback against the local stack, with gameday's rule files.

The config is generated into the run folder: one scrape job per service (every replica a
target, labelled ``replica``; ``job`` is the service), a 1 s scrape and evaluation interval for
drills, and the generated rule files. Prometheus runs as a child process with its own TSDB
folder; ``stop()`` ends it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from gameday.errors import StackError
from gameday.prometheus.api import PrometheusAPI
from gameday.prometheus.childserver import ChildServer


@dataclass
class PrometheusConfig:
    targets: dict[str, list[str]]  # service -> base URLs of its replicas
    rule_files: list[Path] = field(default_factory=list)
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    alertmanager: str | None = None  # host:port
    drill: str | None = None  # host:port of a drill controller: its /metrics (drill events)
    drill_token_file: str | None = None  # its bearer token, where it listens off loopback

    def render(self) -> dict:
        jobs = []
        for service, urls in sorted(self.targets.items()):
            # No ``service`` target label: the services export one themselves, and a target
            # label of the same name would rename theirs to ``exported_service``.
            static = [{"targets": [urlparse(u).netloc], "labels": {"replica": str(i)}}
                      for i, u in enumerate(urls)]
            jobs.append({"job_name": service, "metrics_path": "/metrics",
                         "static_configs": static})
        if self.drill:
            job = {"job_name": "gameday-drill", "metrics_path": "/metrics",
                   "static_configs": [{"targets": [self.drill]}]}
            if self.drill_token_file:
                job["authorization"] = {"type": "Bearer",
                                        "credentials_file": self.drill_token_file}
            jobs.append(job)
        config = {
            "global": {"scrape_interval": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(p.resolve()) for p in self.rule_files],
            "scrape_configs": jobs,
        }
        if self.alertmanager:
            config["alerting"] = {"alertmanagers": [
                {"static_configs": [{"targets": [self.alertmanager]}]}]}
        return config


def find_prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise StackError("prometheus is not on PATH: install it (Debian: apt-get install "
                         "prometheus) or use the embedded engine")
    return path


class PrometheusServer(ChildServer):
    name = "prometheus"

    def __init__(self, config: PrometheusConfig, workdir: Path, port: int,
                 host: str = "127.0.0.1", preexec_fn=None) -> None:
        """``preexec_fn`` runs in the child before exec (the supervisor passes one that
        makes Prometheus die with it)."""
        super().__init__(workdir, port, host, preexec_fn)
        self.config = config

    def launch(self) -> None:
        """Start the process without waiting for it."""
        binary = find_prometheus()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config.render(), sort_keys=False))
        self.spawn(
            [binary, f"--config.file={config_path}",
             f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address={self.host}:{self.port}", "--web.enable-lifecycle",
             # resend firing alerts after 1 s, not 1 min: an alert that fires before
             # Prometheus has found its Alertmanager (at start, after a reload) is dropped
             "--rules.alert.resend-delay=1s",
             "--storage.tsdb.retention.time=1d"])

    def reload(self, targets: dict[str, list[str]]) -> None:
        """Rewrite the config with new targets and ask Prometheus to reload it."""
        import httpx

        self.config.targets = targets
        config_path = self.workdir / "prometheus.yml"
        tmp = config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.config.render(), sort_keys=False))
        tmp.replace(config_path)
        resp = httpx.post(self.url + "/-/reload", timeout=10)
        if resp.status_code != 200:
            raise StackError(f"prometheus at {self.url}: reload failed with HTTP "
                             f"{resp.status_code}: {resp.text[:200]}")

    def wait_ready(self, timeout_s: float = 30.0) -> PrometheusAPI:
        """Wait until ready (see ChildServer.wait_ready); a client of the API."""
        super().wait_ready(timeout_s)
        return PrometheusAPI(self.url)
