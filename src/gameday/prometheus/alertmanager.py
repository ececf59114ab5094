"""Running a real Alertmanager on loopback that delivers to the drill controller's webhook.

Used with ``--prometheus``: Prometheus evaluates the generated rules and sends firing and
resolved alerts to this Alertmanager, which groups them (by alertname, SLO and severity) and
posts them to one webhook receiver. Timings are drill-sized (1 s group wait and interval).
Clustering is switched off (``--cluster.listen-address=``) so it neither binds port 9094 nor
gossips. The config is written into the run folder; ``stop()`` ends the child process.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from gameday.errors import StackError, ValidationError
from gameday.prometheus.childserver import ChildServer

GROUP_BY = ("alertname", "sloth_id", "sloth_severity")
RECEIVER = "gameday-webhook"


@dataclass
class AlertmanagerConfig:
    webhook_url: str
    group_wait: str = "1s"
    group_interval: str = "1s"
    repeat_interval: str = "1h"
    resolve_timeout: str = "5m"

    def render(self) -> dict:
        if not self.webhook_url.startswith(("http://", "https://")):
            raise ValidationError(f"alertmanager: webhook_url must be an http(s) URL, "
                                  f"got {self.webhook_url!r}")
        return {
            "global": {"resolve_timeout": self.resolve_timeout},
            "route": {
                "receiver": RECEIVER,
                "group_by": list(GROUP_BY),
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [{
                "name": RECEIVER,
                "webhook_configs": [{"url": self.webhook_url, "send_resolved": True,
                                     "max_alerts": 0}],
            }],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.render(), sort_keys=False)


def find_alertmanager() -> str:
    """The Alertmanager binary: Debian names it ``prometheus-alertmanager``."""
    for name in ("prometheus-alertmanager", "alertmanager"):
        path = shutil.which(name)
        if path is not None:
            return path
    raise StackError("alertmanager is not on PATH (looked for 'prometheus-alertmanager' and "
                     "'alertmanager'): install it (Debian: apt-get install "
                     "prometheus-alertmanager) or use the embedded engine")


def check_config(path: Path) -> bool:
    """Check a config file with ``amtool check-config``.

    True when amtool accepted it, False when amtool is not on PATH (nothing was checked);
    raises ValidationError with amtool's output when it rejects the file.
    """
    amtool = shutil.which("amtool")
    if amtool is None:
        return False
    try:
        proc = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                              text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise ValidationError(f"{path}: amtool check-config timed out") from None
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise ValidationError(f"{path}: amtool check-config failed: {output}")
    return True


class AlertmanagerServer(ChildServer):
    name = "alertmanager"

    def __init__(self, config: AlertmanagerConfig, workdir: Path, port: int,
                 host: str = "127.0.0.1", preexec_fn=None) -> None:
        """``preexec_fn`` runs in the child before exec (the supervisor passes one that
        makes Alertmanager die with it)."""
        super().__init__(workdir, port, host, preexec_fn)
        self.config = config

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    def launch(self) -> None:
        """Write the config and start the process without waiting for it."""
        binary = find_alertmanager()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config.to_yaml())
        self.spawn([binary, f"--config.file={self.config_path}",
                    f"--storage.path={self.workdir / 'data'}",
                    f"--web.listen-address={self.host}:{self.port}",
                    "--cluster.listen-address=", "--data.retention=24h"])

    def alerts(self) -> list[dict]:
        """The alerts Alertmanager holds now (API v2)."""
        import httpx

        try:
            resp = httpx.get(self.url + "/api/v2/alerts", timeout=5)
            resp.raise_for_status()
        except httpx.HTTPError as err:
            raise StackError(f"alertmanager at {self.url}: {err}") from None
        return resp.json()
