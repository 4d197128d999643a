"""ecspipe.cron: DeploymentWindow cron expressions and time zones, offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecspipe import cron

BERLIN = cron.zone("Europe/Berlin")


def at(*args: int, tz=UTC) -> datetime:
    return datetime(*args, tzinfo=tz)


@pytest.mark.parametrize("text", [
    "0 * 9-16 ? * MON-FRI *",
    "0 0 9-17 ? * MON-FRI",
    "* 0/15 * * * ? 2026-2030",
    "0 30 2 L * ? *",
    "0 0 12 15W * ?",
    "0 0 12 LW * ?",
    "0 0 12 L-3 * ?",
    "0 0 10 ? * 6#3",
    "0 0 10 ? * FRIL",
    "0 0,30 8-10,14 ? jan,Jul mon-fri",
])
def test_the_documented_forms_parse(text):
    assert cron.parse(text).text == text


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("0 9-16 * * MON-FRI", "5-field Unix cron"),
    # The 6-field EventBridge order (minutes first): the error shows AWS's form.
    ("0 9-16 ? * MON-FRI *", "starts with seconds: '0 0 9-16 ? * MON-FRI *'"),
    ("0 0 9 * * MON *", "exactly one of day-of-month and day-of-week"),
    ("0 0 9 ? * ? *", "exactly one of day-of-month and day-of-week"),
    ("0 60 9 ? * MON *", "minutes: 60 is outside 0-59"),
    ("0 0 24 ? * MON *", "hours: 24 is outside 0-23"),
    ("0 0 9 32 * ? *", "day-of-month: 32 is outside 1-31"),
    ("0 0 9 ? 13 MON *", "month: 13 is outside 1-12"),
    ("0 0 9 ? * 8 *", "day-of-week: 8 is outside 1-7"),
    ("0 0 9 ? * FUN *", "is not a number"),
    ("0 0 17-9 ? * MON *", "runs backwards"),
    ("0 0/0 9 ? * MON *", "step"),
    ("0 0 9 ? * MON 1969", "outside 1970-2199"),
    ("0 0 9,,10 ? * MON *", "empty item"),
    ("0 0 9 ? * MON\x1b *", "control characters"),
    ("0 0 9 ? * MON * extra", "not 8"),
])
def test_bad_expressions_say_what_is_wrong(text, fragment):
    with pytest.raises(cron.CronError) as error:
        cron.parse(text)
    assert fragment in str(error.value)


def test_a_weekday_office_hours_window_matches_minute_by_minute():
    window = cron.parse("0 * 9-16 ? * MON-FRI *")
    assert window.matches(at(2026, 9, 21, 9, 0))  # Monday
    assert window.matches(at(2026, 9, 21, 16, 59))
    assert not window.matches(at(2026, 9, 21, 17, 0))
    assert not window.matches(at(2026, 9, 26, 12, 0))  # Saturday
    assert window.next_open(at(2026, 9, 21, 17, 0)) == at(2026, 9, 22, 9, 0)
    assert window.next_open(at(2026, 9, 25, 18, 0)) == at(2026, 9, 28, 9, 0)  # over a weekend
    assert window.next_open(at(2026, 9, 21, 10, 0, 30)) == at(2026, 9, 21, 10, 1)
    assert window.closes_after(at(2026, 9, 21, 10, 0)) == at(2026, 9, 21, 17, 0)


def test_day_of_week_numbers_count_from_sunday():
    sunday = cron.parse("0 * * ? * 1 *")
    assert sunday.matches(at(2026, 9, 20, 12, 0))  # a Sunday
    assert not sunday.matches(at(2026, 9, 21, 12, 0))


def test_last_nearest_weekday_and_nth_weekday_forms():
    assert cron.parse("0 * * L * ? *").matches(at(2026, 2, 28, 1, 0))
    assert not cron.parse("0 * * L * ? *").matches(at(2026, 2, 27, 1, 0))
    assert cron.parse("0 * * L-2 * ? *").matches(at(2026, 2, 26, 1, 0))
    # 15 Aug 2026 is a Saturday: 15W is Friday the 14th.
    assert cron.parse("0 * * 15W * ? *").matches(at(2026, 8, 14, 1, 0))
    # 31 Oct 2026 is a Saturday: LW is Friday the 30th.
    assert cron.parse("0 * * LW * ? *").matches(at(2026, 10, 30, 1, 0))
    third_friday = cron.parse("0 * * ? * 6#3 *")
    assert third_friday.matches(at(2026, 9, 18, 1, 0))
    assert not third_friday.matches(at(2026, 9, 11, 1, 0))
    last_friday = cron.parse("0 * * ? * FRIL *")
    assert last_friday.matches(at(2026, 9, 25, 1, 0))
    assert not last_friday.matches(at(2026, 9, 18, 1, 0))


def test_a_window_in_a_time_zone_follows_its_daylight_saving_time():
    window = cron.parse("0 * 9 ? * * *")
    summer = at(2026, 7, 1, 7, 30).astimezone(BERLIN)  # 09:30 CEST
    winter = at(2026, 12, 1, 8, 30).astimezone(BERLIN)  # 09:30 CET
    assert window.matches(summer) and window.matches(winter)
    is_open, closes = cron.window_state(window, BERLIN, at(2026, 7, 1, 7, 30).timestamp())
    assert is_open and closes.astimezone(UTC) == at(2026, 7, 1, 8, 0)
    is_open, opens = cron.window_state(window, BERLIN, at(2026, 7, 1, 8, 30).timestamp())
    assert not is_open and opens.astimezone(UTC) == at(2026, 7, 2, 7, 0)


def test_a_window_that_never_opens_is_none():
    assert cron.parse("0 * * 31 2 ? *").next_open(at(2026, 1, 1, 0, 0)) is None


@pytest.mark.parametrize("name, offset", [
    (None, timedelta(0)), ("UTC", timedelta(0)), ("UTC+05:30", timedelta(hours=5, minutes=30)),
    ("UTC-03:00", timedelta(hours=-3)), ("Europe/Berlin", timedelta(hours=1)),
])
def test_time_zones_aws_accepts(name, offset):
    assert cron.zone(name).utcoffset(datetime(2026, 1, 15)) == offset


@pytest.mark.parametrize("name, fragment", [
    ("CST", "abbreviation"), ("Mars/Olympus", "not a known"), ("berlin", "Region/City"),
    ("UTC+25:00", "out of range"), ("../../etc/passwd", "Region/City"),
])
def test_time_zones_refused_with_the_reason(name, fragment):
    with pytest.raises(cron.CronError) as error:
        cron.zone(name)
    assert fragment in str(error.value)


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1),
                    timezones=st.just(UTC)),
       st.sampled_from(["0 * 9-16 ? * MON-FRI *", "0 0,30 * ? * SAT,SUN *",
                        "0 * * 1,15 * ? *", "0 */20 2-4 ? * 6#2 *"]))
def test_next_open_is_the_first_matching_minute(when, text):
    window = cron.parse(text)
    found = window.next_open(when)
    assert found is not None and found >= when and window.matches(found)
    probe = when.replace(second=0, microsecond=0)
    if probe < when:
        probe += timedelta(minutes=1)
    # No matching minute is skipped (checked over the stretch up to what was found).
    steps = 0
    while probe < found and steps < 3000:
        assert not window.matches(probe)
        probe += timedelta(minutes=1)
        steps += 1
