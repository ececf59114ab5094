from pathlib import Path

import pytest

from gameday.errors import ValidationError
from gameday.slo.model import Matcher
from gameday.slo.names import alert_name, format_duration, parse_duration
from gameday.slo.spec import load_documents, parse_selector

ROOT = Path(__file__).resolve().parents[2]


def test_parse_selector_with_regex():
    sel = parse_selector('http_requests_total{service="gateway",code=~"5.."}', "q")
    assert sel.metric == "http_requests_total"
    assert sel.matchers == (Matcher("service", "=", "gateway"), Matcher("code", "=~", "5.."))
    assert sel.text() == 'http_requests_total{service="gateway",code=~"5.."}'


def test_parse_selector_refuses_functions():
    with pytest.raises(ValidationError) as err:
        parse_selector("rate(foo[5m])", "slos/x.yaml: query")
    assert str(err.value) == ("slos/x.yaml: query must be a metric selector like "
                              "name{label=\"value\"}, got 'rate(foo[5m])'")


def test_parse_selector_refuses_unquoted_value():
    with pytest.raises(ValidationError, match="bad label matcher at 'a=b'"):
        parse_selector("foo{a=b}", "q")


def test_durations():
    assert parse_duration("72m", "w") == 4320
    assert format_duration(4320) == "72m"
    assert format_duration(3 * 86400) == "3d"
    with pytest.raises(ValidationError, match="must be a duration like 5m, 1h or 30d, got '1.5h'"):
        parse_duration("1.5h", "w")


def test_alert_name():
    assert alert_name("gateway-availability") == "GatewayAvailabilityBudgetBurn"


def test_load_multi_document_file():
    docs = load_documents(ROOT / "slos" / "gateway.yaml")
    assert [d.kind for d in docs] == ["Service", "SLI", "SLO", "SLO"]
    assert docs[2].name == "gateway-availability"


def test_load_refuses_other_api_version(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("apiVersion: openslo/v2\nkind: SLO\nmetadata: {name: a}\nspec: {}\n")
    with pytest.raises(ValidationError) as err:
        load_documents(path)
    assert str(err.value) == (f"{path}: document 1: apiVersion must be 'openslo/v1', "
                              f"got 'openslo/v2'")
