"""The admin client's error texts, against a FastAPI app with the real fault router."""

import httpx
import pytest
from fastapi import FastAPI

from gameday.errors import StackError, ValidationError
from gameday.faults import install_faults
from gameday.stack import admin
from gameday.stack.state import ProcessState

TOKEN = "unit-test-token-0123456789"


def test_format_detail_of_fastapi_field_errors():
    detail = [{"type": "less_than_equal", "loc": ["body", "ttl_s"],
               "msg": "Input should be less than or equal to 3600", "input": 7200}]
    assert admin.format_detail(detail) == \
        "field 'ttl_s': Input should be less than or equal to 3600, got 7200"
    assert admin.format_detail("plain text") == "plain text"


@pytest.fixture
def proc(monkeypatch):
    app = FastAPI()
    install_faults(app, service="classifier", token=TOKEN)
    transport = httpx.ASGITransport(app=app)

    def request(method, url, **kw):
        async def go():
            async with httpx.AsyncClient(transport=transport) as c:
                return await c.request(method, url, **kw)

        import asyncio

        return asyncio.run(go())

    monkeypatch.setattr(admin.httpx, "request", request)
    return ProcessState(name="classifier", replica=0, url="http://svc", port=1)


def test_add_list_clear(proc):
    [(pid, fault)] = admin.add_fault([proc], TOKEN, {"type": "latency", "ttl_s": 30,
                                                     "params": {"delay_ms": 5}})
    assert pid == "classifier-0" and fault["params"]["delay_ms"] == 5
    assert admin.list_faults([proc], TOKEN)[0][1][0]["id"] == fault["id"]
    assert admin.clear_faults([proc], TOKEN) == [("classifier-0", 1)]


def test_422_names_field_and_value(proc):
    with pytest.raises(ValidationError) as err:
        admin.add_fault([proc], TOKEN, {"type": "latency", "ttl_s": 7200})
    assert str(err.value) == ("classifier-0: field 'ttl_s': Input should be less than or "
                              "equal to 3600, got 7200")
    with pytest.raises(ValidationError, match="field 'delay_ms'.*got -5"):
        admin.add_fault([proc], TOKEN, {"type": "latency", "ttl_s": 5,
                                        "params": {"delay_ms": -5}})


def test_wrong_token(proc):
    with pytest.raises(StackError, match="classifier-0: admin token refused"):
        admin.list_faults([proc], "wrong")


def test_unreachable():
    p = ProcessState(name="llm", replica=0, url="http://127.0.0.1:9", port=9)
    with pytest.raises(StackError, match="llm-0 at http://127.0.0.1:9: not reachable"):
        admin.list_faults([p], TOKEN)


def test_constants_copied_to_keep_fastapi_out_of_the_supervisor_match_the_originals():
    from gameday.faults import FAULTS_FILE_ENV, auth
    from gameday.stack import plan

    assert (plan.TOKEN_ENV, plan.TOKEN_FILE_ENV, plan.FAULTS_FILE_ENV) == \
        (auth.TOKEN_ENV, auth.TOKEN_FILE_ENV, FAULTS_FILE_ENV)


def test_the_ttl_bound_is_defined_once_by_the_fault_model():
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    defined = [str(p.relative_to(src)) for p in src.rglob("*.py")
               if re.search(r"^MAX_TTL_S\s*=", p.read_text(), re.MULTILINE)]
    assert defined == ["gameday/faults/model.py"]


def test_supervisor_modules_do_not_load_fastapi():
    import subprocess
    import sys

    code = ("import sys, gameday.stack.daemon, gameday.cli.main, gameday.faults.client; "
            "print('fastapi' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
