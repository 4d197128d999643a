"""Cron expressions of CodePipeline's DeploymentWindow rule, and time zones: parse, match, next.

AWS documents the rule's `Cron` in the CodePipeline User Guide, "DeploymentWindow"
(rule reference): "Cron expressions are comprised of 6 required fields and one
optional field separated by white space":

    seconds  minutes  hours  day-of-month  month  day-of-week  [year]
    *        0-59     0-23   1-31          1-12   1-7          1970-2199
                             ? L W         JAN-DEC SUN-SAT ? L #

with `,` lists, `-` ranges and `/` steps, names case-insensitive, day-of-week
1 = Sunday (Quartz), and `?` ("no specific value") in exactly one of the two
day fields. Its `TimeZone` is a Region/City name (IANA), `UTC` optionally with
an offset (`UTC+05:30`), or an abbreviation; ecspipe accepts the first two and
refuses abbreviations, which AWS itself calls ambiguous (CST is three zones).

A time is inside the window when its minute matches the expression (minutes,
hours, day, month, day-of-week, year); the seconds field is checked for syntax
and otherwise ignored, since a deployment is never a one-second event. Nothing
here reads the clock: callers pass the time, so tests and the sandbox share one
answer. This module is pure and light (no AWS, no pydantic).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
FIELDS = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year")
_RANGES = {"seconds": (0, 59), "minutes": (0, 59), "hours": (0, 23), "day-of-month": (1, 31),
           "month": (1, 12), "day-of-week": (1, 7), "year": (1970, 2199)}
# How far next_open() looks ahead: a window that does not open within this is "never".
HORIZON_DAYS = 366 * 5


class CronError(ValueError):
    """The expression or the time zone is not one CodePipeline accepts; the message says why."""


@dataclass(frozen=True)
class DayRule:
    """The special day-of-month / day-of-week forms: L, W, LW, L-3, 6#3, 5L."""

    kind: str  # "last" | "last-minus" | "weekday-nearest" | "last-weekday" | "nth" | "last-dow"
    value: int = 0
    nth: int = 0


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: '?' (no specific day of month)
    day_rules: tuple[DayRule, ...]
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 = Sunday; None: '?'
    weekday_rules: tuple[DayRule, ...]
    years: frozenset[int] | None  # None: any year

    # ---- matching ---------------------------------------------------------------
    def day_matches(self, day: datetime) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if day.month not in self.months:
            return False
        if self.days is not None or self.day_rules:
            return day.day in (self.days or ()) or any(
                _day_rule(r, day) for r in self.day_rules)
        weekday = day.isoweekday() % 7 + 1  # Monday 1 -> 2, Sunday 7 -> 1
        return weekday in (self.weekdays or ()) or any(
            _weekday_rule(r, day, weekday) for r in self.weekday_rules)

    def matches(self, when: datetime) -> bool:
        """Is the minute of `when` (an aware datetime, in the window's zone) in the window?"""
        return when.minute in self.minutes and when.hour in self.hours and self.day_matches(when)

    def next_open(self, when: datetime) -> datetime | None:
        """The first minute at or after `when` that is in the window (None: not within years)."""
        start = when.replace(second=0, microsecond=0)
        if start < when:
            start += timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for offset in range(HORIZON_DAYS):
            candidate_day = (day + timedelta(days=offset)) if offset else day
            if not self.day_matches(candidate_day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    moment = candidate_day.replace(hour=hour, minute=minute)
                    if moment >= start:
                        return moment
        return None

    def closes_after(self, when: datetime) -> datetime:
        """The end of the open stretch that contains `when` (the first minute not in it)."""
        moment = when.replace(second=0, microsecond=0)
        for _ in range(60 * 24 * 31):  # a window open for a month without a break: say so
            moment += timedelta(minutes=1)
            if not self.matches(moment):
                return moment
        return moment


def _day_rule(rule: DayRule, day: datetime) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if rule.kind == "last":
        return day.day == last
    if rule.kind == "last-minus":
        return day.day == last - rule.value
    if rule.kind == "last-weekday":
        target = last
        while datetime(day.year, day.month, target).weekday() >= 5:
            target -= 1
        return day.day == target
    if rule.kind == "weekday-nearest":
        target = min(rule.value, last)
        weekday = datetime(day.year, day.month, target).weekday()
        if weekday == 5:  # Saturday: the Friday before, unless that leaves the month
            target = target - 1 if target > 1 else target + 2
        elif weekday == 6:  # Sunday: the Monday after, unless that leaves the month
            target = target + 1 if target < last else target - 2
        return day.day == target
    return False


def _weekday_rule(rule: DayRule, day: datetime, weekday: int) -> bool:
    if weekday != rule.value:
        return False
    if rule.kind == "nth":
        return (day.day - 1) // 7 + 1 == rule.nth
    if rule.kind == "last-dow":
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return False


# ---- parsing -----------------------------------------------------------------------

def _number(token: str, field: str, names: dict[str, int] | None) -> int:
    upper = token.upper()
    if names and upper in names:
        return names[upper]
    if not token.isdigit():
        allowed = f" or a name such as {next(iter(names))}" if names else ""
        raise CronError(f"{field}: {token!r} is not a number{allowed}")
    value = int(token)
    low, high = _RANGES[field]
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is outside {low}-{high}")
    return value


def _values(part: str, field: str, names: dict[str, int] | None) -> set[int]:
    """One comma-separated item: `*`, `N`, `A-B`, with an optional `/STEP`."""
    low, high = _RANGES[field]
    base, _, step_text = part.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise CronError(f"{field}: the step in {part!r} must be a positive number")
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _number(a, field, names), _number(b, field, names)
        if first > last:
            raise CronError(f"{field}: the range {base!r} runs backwards")
    else:
        first = _number(base, field, names)
        last = high if step_text else first
    return set(range(first, last + 1, step))


def _field(text: str, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    if not text:
        raise CronError(f"{field}: empty")
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty item in {text!r}")
        values |= _values(part, field, names)
    return frozenset(values)


_LAST_MINUS = re.compile(r"L-(\d{1,2})")
_NEAREST = re.compile(r"(\d{1,2})W")
_NTH = re.compile(r"([1-7A-Za-z]{1,3})#([1-5])")
_LAST_DOW = re.compile(r"([1-7A-Za-z]{1,3})L")


def _days(text: str) -> tuple[frozenset[int] | None, tuple[DayRule, ...]]:
    if text == "?":
        return None, ()
    rules: list[DayRule] = []
    plain: list[str] = []
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            rules.append(DayRule("last"))
        elif upper == "LW":
            rules.append(DayRule("last-weekday"))
        elif m := _LAST_MINUS.fullmatch(upper):
            rules.append(DayRule("last-minus", int(m[1])))
        elif m := _NEAREST.fullmatch(upper):
            rules.append(DayRule("weekday-nearest", _number(m[1], "day-of-month", None)))
        elif "?" in part:
            raise CronError("day-of-month: '?' must stand alone")
        else:
            plain.append(part)
    days = _field(",".join(plain), "day-of-month") if plain else frozenset()
    return days, tuple(rules)


def _weekdays(text: str) -> tuple[frozenset[int] | None, tuple[DayRule, ...]]:
    if text == "?":
        return None, ()
    rules: list[DayRule] = []
    plain: list[str] = []
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            plain.append("7")  # L alone in day-of-week: the last day of the week, Saturday
        elif m := _NTH.fullmatch(upper):
            rules.append(DayRule("nth", _number(m[1], "day-of-week", DAYS), int(m[2])))
        elif m := _LAST_DOW.fullmatch(upper):
            rules.append(DayRule("last-dow", _number(m[1], "day-of-week", DAYS)))
        elif "?" in part:
            raise CronError("day-of-week: '?' must stand alone")
        else:
            plain.append(part)
    weekdays = _field(",".join(plain), "day-of-week", DAYS) if plain else frozenset()
    return weekdays, tuple(rules)


def parse(text: str) -> Cron:
    """Parse a DeploymentWindow cron expression; CronError says what is wrong."""
    try:
        return _parse(text)
    except CronError as error:
        # Six fields in EventBridge's order (minutes first, no seconds) are a common
        # slip: if that reading is valid, say what AWS's form of it is.
        if isinstance(text, str) and len(text.split()) == 6:
            fixed = "0 " + " ".join(text.split())
            try:
                _parse(fixed)
            except CronError:
                raise error from None
            raise CronError(f"{error} -- the fields look like EventBridge's order (minutes "
                            f"first); AWS's DeploymentWindow cron starts with seconds: "
                            f"{fixed!r}") from None
        raise


def _parse(text: str) -> Cron:
    if not isinstance(text, str) or not text.strip():
        raise CronError("the expression is empty")
    if any(not c.isprintable() for c in text):
        raise CronError("the expression contains control characters")
    parts = text.split()
    if len(parts) not in (6, 7):
        hint = ""
        if len(parts) == 5:
            hint = (" (it looks like a 5-field Unix cron: AWS's has a seconds field first, "
                    "e.g. '0 " + text.strip() + "')")
        raise CronError(f"must have 6 fields and an optional year ({', '.join(FIELDS)}), "
                        f"not {len(parts)}{hint}")
    seconds, minutes, hours, dom, month, dow = parts[:6]
    year = parts[6] if len(parts) == 7 else "*"
    _field(seconds, "seconds")
    if (dom == "?") == (dow == "?"):
        raise CronError("exactly one of day-of-month and day-of-week must be '?' "
                        f"(got day-of-month {dom!r}, day-of-week {dow!r})")
    for name, value in (("minutes", minutes), ("hours", hours), ("month", month),
                        ("year", year)):
        if "?" in value:
            raise CronError(f"{name}: '?' is allowed only in day-of-month or day-of-week")
    days, day_rules = _days(dom)
    weekdays, weekday_rules = _weekdays(dow)
    return Cron(
        text=text,
        minutes=_field(minutes, "minutes"),
        hours=_field(hours, "hours"),
        days=days,
        day_rules=day_rules,
        months=_field(month, "month", MONTHS),
        weekdays=weekdays,
        weekday_rules=weekday_rules,
        years=None if year == "*" else _field(year, "year"),
    )


# ---- time zones --------------------------------------------------------------------

_UTC_OFFSET = re.compile(r"UTC(?:([+-])(\d{2}):(\d{2}))?")


def zone(name: str | None) -> tzinfo:
    """A DeploymentWindow TimeZone as a tzinfo: IANA Region/City, or UTC[+-HH:MM] (default UTC)."""
    if not name:
        return UTC
    if m := _UTC_OFFSET.fullmatch(name):
        if not m[1]:
            return UTC
        hours, minutes = int(m[2]), int(m[3])
        if hours > 14 or minutes > 59:
            raise CronError(f"time zone {name!r}: the offset is out of range")
        sign = 1 if m[1] == "+" else -1
        return timezone(sign * timedelta(hours=hours, minutes=minutes), name)
    if re.fullmatch(r"[A-Z]{3,5}", name):
        raise CronError(f"time zone {name!r} is an abbreviation, which can mean several zones "
                        "(CST is three): use a Region/City name such as 'America/Chicago', "
                        "or 'UTC+05:30'")
    if "/" not in name or not re.fullmatch(r"[A-Za-z0-9_+\-/]{3,64}", name):
        raise CronError(f"time zone {name!r} is not a Region/City name such as "
                        "'Europe/Berlin', nor UTC with an offset such as 'UTC-03:00'")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"time zone {name!r} is not a known Region/City name "
                        "(e.g. 'Europe/Berlin', 'America/New_York')") from None


def window_state(cron: Cron, tz: tzinfo, epoch: float) -> tuple[bool, datetime | None]:
    """(open now?, when it next opens or closes) for a Unix time, in the window's zone."""
    now = datetime.fromtimestamp(epoch, tz=tz)
    if cron.matches(now):
        return True, cron.closes_after(now)
    return False, cron.next_open(now)
