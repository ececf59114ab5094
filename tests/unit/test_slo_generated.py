"""slos/_gen/ is committed: regenerating must not change it."""

from pathlib import Path

from gameday.slo.storage import generate

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_up_to_date(tmp_path):
    written = generate(ROOT / "slos", tmp_path)
    fresh = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in written}
    gen = ROOT / "slos" / "_gen"
    committed = {p.relative_to(gen).as_posix(): p.read_text() for p in gen.glob("*/*.yml")}
    stale = sorted(n for n in fresh.keys() | committed.keys()
                   if fresh.get(n) != committed.get(n))
    assert not stale, f"slos/_gen is out of date ({', '.join(stale)}); run 'gameday slo generate'"


def test_cli_generate_one_catalog(tmp_path):
    from typer.testing import CliRunner

    from gameday.cli.main import app

    result = CliRunner().invoke(app, ["slo", "generate", "--catalog", "drill-12h",
                                      "--specs", str(ROOT / "slos"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "drill-12h").iterdir()) == [
        f"{s}.{k}.yml" for s in ("classifier", "features", "gateway", "llm")
        for k in ("rules", "test")]
    assert not (tmp_path / "google-30d").exists()


def test_cli_generate_unknown_catalog(tmp_path):
    from typer.testing import CliRunner

    from gameday.cli.main import app

    result = CliRunner().invoke(app, ["slo", "generate", "--catalog", "nope",
                                      "--specs", str(ROOT / "slos"), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no window catalog 'nope'" in result.output
    assert "(known: drill-12h, google-30d)" in result.output
