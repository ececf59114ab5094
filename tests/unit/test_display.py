"""The shared formatters of figures shown to people (report, postmortem draft, console)."""

from gameday.display import elapsed, percent, utc


def test_elapsed_reads_as_a_clock():
    assert elapsed(None) == "-"
    assert elapsed(0) == "0s"
    assert elapsed(45.4) == "45s"
    assert elapsed(125) == "2m05s"
    assert elapsed(3725) == "1h02m05s"
    assert elapsed(-90) == "-1m30s"


def test_percent_and_utc():
    assert percent(None) == "-"
    assert percent(0.1234) == "12.3%"
    assert percent(0.99951, 2) == "99.95%"
    assert utc(None) == "-"
    assert utc(0) == "1970-01-01 00:00:00"


def test_report_and_postmortem_use_the_shared_formatters():
    import gameday.postmortem.facts as facts
    import gameday.report.render as render

    for module in (facts, render):
        assert module.elapsed is elapsed and module.utc is utc and module.percent is percent
        assert not hasattr(module, "duration")


def test_size_reads_in_binary_units():
    from gameday.display import size

    assert [size(n) for n in (512, 112_742, 9_332_000, 3 << 30)] == \
        ["512 B", "110.1 KiB", "8.9 MiB", "3.0 GiB"]
