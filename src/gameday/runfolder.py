"""The run folder: ``.gameday/runs/<run-id>/`` in the working directory.

The one owner of a run's file names and of the JSON reader and writer of its files: every
other module asks a ``Run`` for a path, never spells one. Imports nothing of the stack, the
drill or the report, so that every layer can use it.

Layout::

    .gameday/current                 the run commands act on by default (one line)
    .gameday/stacks.json             every live stack, changed under stacks.lock (registry.py)
    .gameday/runs/<run-id>/
        token                        admin bearer token, mode 0600, never printed
        facilitator.token            a drill's facilitator token (mode 0600): answer key,
                                     pause/extend/abort, judging (drill/api.py)
        responder.token              a drill's responder token (mode 0600), and one
        responder-<name>.token       per person with --responders; never the admin token
        spec.json                    the stack spec the supervisor runs
        stack.json                   supervisor state, written atomically (see stack/state.py)
        control/                     requests to the supervisor (restart a process)
        faults/<name>-<replica>.json faults of one process, kept across restarts until TTL
        logs/<name>-<replica>.log    stdout+stderr of one process, appended across restarts
        logs/supervisor.log          supervisor events, one JSON object per line
        recording.jsonl.gz           every scrape of the embedded engine (stack/monitor.py)
        slo-status.json              the monitor's last SLO status
        prometheus/, alertmanager/   work folders of the real servers, when used
        drill.json                   the drill's metadata and times (drill/controller.py)
        timeline.jsonl               the drill's events, append-only (gameday/timeline.py)
        chaos/<experiment>-journal.json  Chaos Toolkit journal, beside its -chaostoolkit.log
                                     (a drill names them neutrally: experiment-journal.json)
        chaos/chaos-stdout.log, chaos/gameday-controls.json  (a drill's chaos run)
        load/<stamp>-<profile>/      Locust stats and log of one load run
        score.json                   the drill's figures (report/score.py)
        report.md, report.html       the report, with charts/*.png
        postmortem.md                the postmortem draft
    .gameday/sealed/<run-id>/        a wheel's chaos side until the drill ends (mode 0700,
                                     outside the run folder responders read): the chaos
                                     files and timeline.jsonl of what the chaos process did
    .gameday/sealed/<run-id>-stack/  a wheel's stack side until the drill ends (mode 0700):
                                     faults/<name>-<replica>.json (the services' fault
                                     store) and logs/<name>-<replica>.faults.log (their
                                     lines about faults), moved into the run folder's
                                     faults/ and logs/ when the stack stops
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gameday.errors import NotFoundError, ValidationError

HOME_DIRNAME = ".gameday"
RUN_ENV = "GAMEDAY_RUN"
# Set for the chaos process of a wheel: its timeline events go to this folder's
# timeline.jsonl (gameday.timeline.append_event) until the drill reveals them.
SEALED_ENV = "GAMEDAY_SEALED"
SEALED_DIRNAME = "sealed"

# Names inside .gameday/
RUNS_DIRNAME = "runs"
CURRENT_FILE = "current"
REGISTRY_FILE = "stacks.json"

# Names inside a run folder (the Run properties below are the way to reach them).
TOKEN = "token"
FACILITATOR_TOKEN = "facilitator.token"
RESPONDER_TOKEN = "responder.token"
SPEC = "spec.json"
STATE = "stack.json"
CONTROL_DIR = "control"
FAULTS_DIR = "faults"
LOGS_DIR = "logs"
SUPERVISOR_LOG = "supervisor.log"
RECORDING = "recording.jsonl.gz"
SLO_STATUS = "slo-status.json"
PROMETHEUS_DIR = "prometheus"
ALERTMANAGER_DIR = "alertmanager"
DRILL = "drill.json"
TIMELINE = "timeline.jsonl"
CHAOS_DIR = "chaos"
LOAD_DIR = "load"
LOAD_REPORT = "report.html"  # Locust's own HTML report, in each load folder
SCORE = "score.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CHARTS_DIR = "charts"
POSTMORTEM = "postmortem.md"

PERSON_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")

# What `gameday report` writes (checked before it starts, see cli/report.py).
REPORT_OUTPUTS = (SCORE, REPORT_MD, REPORT_HTML)


def runs_home(cwd: Path | None = None) -> Path:
    return (cwd or Path.cwd()) / HOME_DIRNAME


def runs_dir(home: Path | None = None) -> Path:
    """``.gameday/runs``: the folder holding every run folder."""
    return (home or runs_home()) / RUNS_DIRNAME


def current_file(home: Path | None = None) -> Path:
    return (home or runs_home()) / CURRENT_FILE


def registry_file(home: Path | None = None) -> Path:
    return (home or runs_home()) / REGISTRY_FILE


def new_run_id(now: float | None = None) -> str:
    """UTC timestamp plus a short random suffix, for example ``20261127-053012-ab12``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Run:
    """One run folder and the path of each file in it (whether written yet or not)."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def home(self) -> Path:
        return self.path.parent.parent

    # the stack
    @property
    def token_path(self) -> Path:
        return self.path / TOKEN

    # a drill's credentials (gameday.drill.api): never the services' admin token
    @property
    def facilitator_token_path(self) -> Path:
        return self.path / FACILITATOR_TOKEN

    @property
    def responder_token_path(self) -> Path:
        return self.path / RESPONDER_TOKEN

    def person_token_path(self, name: str) -> Path:
        """``responder-<name>.token``: one responder's own token (``--responders``)."""
        if not PERSON_NAME.fullmatch(name or ""):
            raise ValidationError(f"--responders: a name is letters, digits, '-' or '_' "
                                  f"(at most 32), got {name!r}")
        return self.path / f"responder-{name}.token"

    @property
    def state_path(self) -> Path:
        return self.path / STATE

    @property
    def spec_path(self) -> Path:
        return self.path / SPEC

    @property
    def logs_dir(self) -> Path:
        return self.path / LOGS_DIR

    @property
    def faults_dir(self) -> Path:
        return self.path / FAULTS_DIR

    @property
    def control_dir(self) -> Path:
        return self.path / CONTROL_DIR

    @property
    def supervisor_log(self) -> Path:
        return self.logs_dir / SUPERVISOR_LOG

    def log_path(self, name: str, replica: int) -> Path:
        return self.logs_dir / f"{name}-{replica}.log"

    def faults_path(self, name: str, replica: int) -> Path:
        return self.faults_dir / f"{name}-{replica}.json"

    # the stack's observers
    @property
    def recording(self) -> Path:
        return self.path / RECORDING

    @property
    def slo_status(self) -> Path:
        return self.path / SLO_STATUS

    @property
    def prometheus_dir(self) -> Path:
        return self.path / PROMETHEUS_DIR

    @property
    def alertmanager_dir(self) -> Path:
        return self.path / ALERTMANAGER_DIR

    # the drill
    @property
    def drill_file(self) -> Path:
        return self.path / DRILL

    @property
    def timeline(self) -> Path:
        return self.path / TIMELINE

    @property
    def chaos_dir(self) -> Path:
        return self.path / CHAOS_DIR

    def chaos_journal(self, experiment: str) -> Path:
        return self.chaos_dir / f"{experiment}-journal.json"

    def chaos_log(self, experiment: str) -> Path:
        return self.chaos_dir / f"{experiment}-chaostoolkit.log"

    @property
    def chaos_stdout(self) -> Path:
        """What ``chaos run`` prints, when a drill starts it."""
        return self.chaos_dir / "chaos-stdout.log"

    @property
    def chaos_controls(self) -> Path:
        """The control file a drill hands ``chaos run`` when the experiment lacks gameday's."""
        return self.chaos_dir / "gameday-controls.json"

    @property
    def load_dir(self) -> Path:
        return self.path / LOAD_DIR

    # after the drill
    @property
    def score(self) -> Path:
        return self.path / SCORE

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    @property
    def report_html(self) -> Path:
        return self.path / REPORT_HTML

    @property
    def charts_dir(self) -> Path:
        return self.path / CHARTS_DIR

    @property
    def postmortem(self) -> Path:
        return self.path / POSTMORTEM

    def token(self) -> str:
        try:
            text = self.token_path.read_text().strip()
        except OSError as err:
            raise NotFoundError(f"{self.token_path}: cannot read the run's admin token "
                                f"({err.strerror})") from None
        if not text:
            raise NotFoundError(f"{self.token_path}: the run's admin token is empty")
        return text


def sealed_stack_dir(run: Run) -> Path:
    """Where a wheel's services keep their fault store and fault log lines until the end:
    ``.gameday/sealed/<run-id>-stack`` (the stack stops after the chaos side is revealed)."""
    return run.home / SEALED_DIRNAME / f"{run.id}-stack"


def sealed_faults_path(run: Run, name: str, replica: int) -> Path:
    return sealed_stack_dir(run) / FAULTS_DIR / run.faults_path(name, replica).name


def sealed_fault_log(run: Run, name: str, replica: int) -> Path:
    """A wheel's service's lines about faults (gameday.faults.store.seal_fault_log)."""
    return sealed_stack_dir(run) / LOGS_DIR / f"{name}-{replica}.faults.log"


def write_secret(path: Path, token: str | None = None) -> str:
    """A new token (or ``token``) in ``path``, readable by its owner only (mode 0600, never
    wider, even briefly); returns it."""
    token = token or secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a file of another mode is replaced, not reused
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def read_secret(path: Path) -> str | None:
    """The token in ``path``, or None when the file is missing or empty."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def sealed_dir(run: Run) -> Path:
    """Where a wheel keeps its chaos side until the end: ``.gameday/sealed/<run-id>``,
    beside ``runs/`` and so outside the run folder (what responders read)."""
    return run.home / SEALED_DIRNAME / run.id


def create_run(home: Path | None = None, make_current: bool = True) -> Run:
    """A fresh run folder with its token (mode 0600), made the current run."""
    folder = runs_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        path = folder / new_run_id()
        try:
            path.mkdir(mode=0o700)
            break
        except FileExistsError:
            continue
    run = Run(path)
    for d in (run.logs_dir, run.faults_dir, run.control_dir):
        d.mkdir()
    write_secret(run.token_path)
    if make_current:
        set_current(run)
    return run


def set_current(run: Run) -> None:
    fd, tmp = tempfile.mkstemp(dir=run.home, prefix=f".{CURRENT_FILE}-")
    with os.fdopen(fd, "w") as fh:
        fh.write(run.id + "\n")
    os.replace(tmp, current_file(run.home))


def current_run_id(home: Path | None = None) -> str | None:
    """The id in ``.gameday/current``, or None when there is none (or it is unreadable)."""
    try:
        return current_file(home).read_text().strip() or None
    except OSError:
        return None


def find_run(run_id: str | None = None, home: Path | None = None) -> Run:
    """The run with this id, or the current one; raises NotFoundError naming what is missing."""
    home = home or runs_home()
    if run_id is None:
        current = current_file(home)
        try:
            run_id = current.read_text().strip()
        except OSError:
            raise NotFoundError(f"no gameday run in {home} (no {current}); "
                                f"start one with 'gameday up'") from None
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValidationError(f"--run: not a run id, got {run_id!r}")
    path = runs_dir(home) / run_id
    if not path.is_dir():
        raise NotFoundError(f"run {run_id!r} not found in {runs_dir(home)}")
    return Run(path)


def resolve_run(run: Run | str | Path | None = None, home: Path | None = None) -> Run:
    """Accept a Run, a run folder path, a run id, or None for the current run.

    None means ``$GAMEDAY_RUN`` when set (a run id or folder: what a drill gives the
    processes it starts, such as ``chaos run``), else the working directory's current run.
    """
    if run is None and os.environ.get(RUN_ENV):
        run = os.environ[RUN_ENV]
    if isinstance(run, str) and "/" in run and Path(run).is_dir():
        run = Path(run)
    if isinstance(run, Run):
        return run
    if isinstance(run, Path):
        if not run.is_dir():
            raise NotFoundError(f"run folder {run} not found")
        return Run(run)
    return find_run(run, home)


def read_json(path: Path, notes: list[str] | None = None) -> dict | None:
    """A JSON object file of a run. Missing: None, and with ``notes`` given a note naming
    it (a reader that can do without it says so); without ``notes`` a missing file is a
    ValidationError. Unreadable, not JSON or not an object: ValidationError naming the file."""
    if not path.exists():
        if notes is None:
            raise ValidationError(f"{path}: not in the run folder")
        notes.append(f"{path.name}: not in the run folder")
        return None
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValidationError(f"{path}: not readable JSON: {err}") from None
    if not isinstance(body, dict):
        raise ValidationError(f"{path}: expected a JSON object, got {type(body).__name__}")
    return body


def atomic_write(path: Path, data: bytes | str, durable: bool = True) -> Path:
    """Write ``path`` through a temporary file in the same folder and a rename: a reader
    sees the old file or the new one, never half of one. ``durable`` syncs the data to disk
    before the rename (off for a file rewritten every second, such as slo-status.json)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, body: dict) -> Path:
    """A run's JSON file, atomically (see ``atomic_write``), indented, ending in a newline."""
    return atomic_write(path, json.dumps(body, indent=2) + "\n")
