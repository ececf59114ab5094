"""Files users give, read with bounds: each hostile file is one ValidationError naming the
file (and the field), never a RecursionError, a UnicodeEncodeError or a read without end."""

from __future__ import annotations

import os
import time

import pytest

from gameday.errors import NotFoundError, OutputError, ValidationError
from gameday.userfiles import (
    MAX_BYTES,
    check_output_file,
    load_json_file,
    load_yaml_documents,
    read_bounded,
    shorten,
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000,
     "x.json: not valid JSON: nested too deeply (more than 64 levels"),
    ('{"extensions": [{"name": "gameday", "title": "\\ud800"}]}',
     "x.json: extensions[0].title: not valid Unicode text (a lone surrogate"),
    ('{"a\\udc00b": 1}', "x.json: top level (a key): not valid Unicode text"),
    ('{"x": NaN}', "x.json: not valid JSON (NaN is not a JSON number)"),
    ('{"x": -Infinity}', "x.json: not valid JSON (-Infinity is not a JSON number)"),
    ('{"x": ' + "9" * 5000 + "}",
     "x.json: not valid JSON: a number of 5000 digits, got 99999999999999999...9999"),
    ('{"x": ', "x.json: not valid JSON (Expecting value: line 1 column 7"),
])
def test_hostile_json_is_one_error_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, "x.json", text)
    t0 = time.monotonic()
    with pytest.raises(ValidationError) as err:
        load_json_file(path, "scenario")
    assert message in str(err.value)
    assert len(str(err.value)) < 200  # never the whole input back
    assert time.monotonic() - t0 < 2


def test_brackets_and_digits_inside_strings_do_not_count(tmp_path):
    text = '{"x": "' + "[" * 1000 + '", "y": [1, {"z": "\\"]"}], "n": "' + "7" * 100 + '"}'
    path = write(tmp_path, "ok.json", text)
    assert load_json_file(path)["y"] == [1, {"z": '"]'}]
    deep = "[" * 64 + "]" * 64  # at the limit is fine
    assert load_json_file(write(tmp_path, "deep.json", deep)) == eval(deep)


def test_size_kind_and_missing_files(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_BYTES + 1))
    with pytest.raises(ValidationError, match="big.json: larger than 2048 KiB; not a scenario"):
        load_json_file(big, "scenario")
    with pytest.raises(ValidationError, match="/dev/zero: not a regular file"):
        read_bounded("/dev/zero", "scenario")  # once read without end
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match="pipe.json: not a regular file"):
        read_bounded(fifo, "scenario")  # must not wait for a writer
    with pytest.raises(ValidationError, match=f"{tmp_path}: is a directory"):
        read_bounded(tmp_path, "scenario")
    with pytest.raises(NotFoundError, match="nope.json: cannot read the scenario"):
        read_bounded(tmp_path / "nope.json", "scenario")
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"x": "caf\xe9"}')
    with pytest.raises(ValidationError, match="latin1.json: not UTF-8 text"):
        load_json_file(bad)


def test_yaml_long_number_names_document_and_field(tmp_path):
    text = ("kind: Service\n---\nkind: SLO\nspec:\n  objectives:\n"
            "    - target: " + "9" * 5000 + "\n")
    path = write(tmp_path, "s.yaml", text)
    with pytest.raises(ValidationError) as err:
        load_yaml_documents(path, "spec")
    assert str(err.value) == (f"{path}: document 2: spec.objectives[0].target: number too "
                              f"long (5000 characters), got 99999999999999999...9999")


def test_yaml_depth_aliases_and_plain_documents(tmp_path):
    with pytest.raises(ValidationError, match="deep.yaml: not valid YAML: nested too deeply"):
        load_yaml_documents(write(tmp_path, "deep.yaml", "a: " + "[" * 100_000), "spec")
    # a billion laughs: every level refers to the one before ten times; walked once each
    lines = ["a0: &a0 [1, 2]"] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]"
                                  for i in range(1, 12)]
    t0 = time.monotonic()
    docs = load_yaml_documents(write(tmp_path, "laughs.yaml", "\n".join(lines)), "spec")
    assert time.monotonic() - t0 < 2 and docs[0]["a0"] == [1, 2]
    docs = load_yaml_documents(write(tmp_path, "ok.yaml", "a: 1\n---\nb: [x, 2.5]\n"))
    assert docs == [{"a": 1}, {"b": ["x", 2.5]}]
    with pytest.raises(ValidationError, match="bad.yaml: not valid YAML"):
        load_yaml_documents(write(tmp_path, "bad.yaml", "a: [\n"))


def test_output_files(tmp_path):
    with pytest.raises(ValidationError, match=f"{tmp_path}: is a directory; give a file path "
                                              f"for the draft"):
        check_output_file(tmp_path, "the draft")
    with pytest.raises(ValidationError, match="/dev/null: not a regular file"):
        check_output_file("/dev/null", "the draft")
    check_output_file(tmp_path / "new.md", "the draft")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(OutputError, match=f"{ro}: read-only folder, cannot write the "
                                              f"draft there"):
            check_output_file(ro / "x.md", "the draft")


def test_shorten():
    assert shorten("short") == "short"
    assert shorten("1" * 5000) == "1" * 17 + "...1111"
