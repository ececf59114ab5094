from gameday.stack.backoff import Backoff
from gameday.stack.spec import StackSettings


def test_default_schedule_doubles_from_half_a_second_capped_at_ten():
    assert Backoff().schedule(8) == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_no_crash_no_delay():
    assert Backoff().delay(0) == 0.0


def test_settings_drive_the_schedule():
    s = StackSettings(backoff_initial_s=0.1, backoff_factor=3, backoff_max_s=1)
    b = Backoff(s.backoff_initial_s, s.backoff_factor, s.backoff_max_s, s.backoff_reset_s)
    assert b.schedule(4) == [0.1, 0.1 * 3, 0.1 * 9, 1.0]


def test_long_crash_loop_stays_at_the_cap():
    assert Backoff().delay(10_000) == 10.0


def test_healthy_running_resets_the_count():
    b = Backoff(reset_after_s=30)
    assert b.next_crash_count(4, healthy_s=1.0) == 5
    assert b.next_crash_count(4, healthy_s=30.0) == 1
    assert b.delay(b.next_crash_count(6, healthy_s=45.0)) == 0.5
