"""Talking to a listener below httpx: raw bytes on a socket, one answer read back; and the
child process that serves the three in-process listeners (listener_child.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

RULES = sorted((Path(__file__).resolve().parents[2] / "slos" / "_gen" / "drill-12h")
               .glob("*.rules.yml"))
CHILD = Path(__file__).with_name("listener_child.py")


def start_child(run_dir: Path) -> tuple[subprocess.Popen, dict[str, int]]:
    """The listener child and the port of each of its listeners (drill, query, webhook)."""
    proc = subprocess.Popen([sys.executable, str(CHILD), str(run_dir), *map(str, RULES)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"listener child did not start: {proc.stderr.read()}")
    urls = json.loads(line)
    return proc, {name: int(url.rsplit(":", 1)[1].split("/")[0]) for name, url in urls.items()}


def stop_child(proc: subprocess.Popen) -> tuple[str, str]:
    """Close the child's stdin (it stops its listeners) and return its (stdout, stderr)."""
    try:
        return proc.communicate("", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def proc_status(pid: int, field: str) -> int:
    """A number from /proc/<pid>/status: ``Threads``, or ``VmRSS`` in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[int | None, dict, bytes]:
    """Send ``data`` on a fresh connection and read one answer: (status, headers, body);
    status None when the server closed without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:  # the server answered and closed while we were still sending
            pass
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int | None, dict, bytes]:
    raw = b""
    try:
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(65536)
            if not chunk:
                return None, {}, raw
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except ConnectionResetError:
        return None, {}, raw
    return int(lines[0].split()[1]), headers, body
