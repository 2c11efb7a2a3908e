"""What a query says about time: the stretch of time it names, if any ("in March 2025",
"last summer", "in 2024", "two weeks ago"), and whether it asks about the present
("where do I live now?"). Recall prefers memories made inside the period, and for the
present the newer of the memories it finds (memories/ranking.py).

Pure functions, `now` passed in. Periods are half-open [start, end) in UTC, the zone
memories' dates are stored and indexed in. Seasons are the northern meteorological
ones: spring March-May, summer June-August, autumn (fall) September-November, winter
December to February, "winter 2024" being the one that starts in December 2024.

A month or season without a year is its latest occurrence that has begun by `now`
("in May" asked in May is this May), "last May" the one before the current May, and
"this summer" the one under way or else the one of the current year.
When a query names several periods, it names the stretch from the first to the last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
ABBREVIATIONS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8}
ABBREVIATIONS |= {"sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)} | ABBREVIATIONS
# First month of each season; a season lasts three months.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}

_YEAR = r"(?:19|20)\d\d"
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
# Without a year, only full month names count, and "may" only after "last", "in"...:
# "Jan" or "this may" are as often a name or a verb.
_MONTH_NAME = "|".join(name for name in MONTH_NAMES if name != "may")
_MONTH_NAME_OR_MAY = _MONTH_NAME + "|may"
# A month or season followed by a year is matched with its year, never alone.
_NO_YEAR = rf"(?!(?:\s+of|,)?\s+{_YEAR})"
_SEASON = "|".join(SEASONS)
_COUNT = r"\d{1,3}|" + "|".join(NUMBERS)

_PATTERN = re.compile(
    rf"""
    \b(?:
        (?P<month>{_MONTH})\.?(?:\s+of|,)?\s+(?P<month_year>{_YEAR})
      | (?P<season>{_SEASON})(?:\s+of)?\s+(?P<season_year>{_YEAR})
      | last\s+(?P<last>{_MONTH_NAME_OR_MAY}|{_SEASON}){_NO_YEAR}
      | this\s+(?P<this>{_MONTH_NAME}|{_SEASON}){_NO_YEAR}
      | (?:in|during|since|until|over)\s+(?:the\s+)?
        (?P<bare>{_MONTH_NAME_OR_MAY}|{_SEASON}){_NO_YEAR}
      | (?P<year>{_YEAR})
      | (?P<relative>last|this|past)\s+(?P<relative_unit>week|month|year)
      | (?P<count>{_COUNT})\s+(?P<count_unit>day|week|month|year)s?\s+ago
      | (?P<day>yesterday|today)
    )\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


_PRESENT = re.compile(
    r"\b(?:now|nowadays|these\s+days|at\s+the\s+moment|at\s+present|currently|current|"
    r"still|any\s?more|latest|most\s+recent(?:ly)?|lately)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _month_start(year: int, month: int) -> datetime:
    # Months past December roll into the next year (a season runs three months).
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _months(year: int, first: int, count: int) -> Period:
    return Period(_month_start(year, first), _month_start(year, first + count))


def _latest(first: int, count: int, now: datetime, *, before_current: bool) -> Period:
    """The latest run of `count` months from month `first` that has begun by now; with
    `before_current`, the one before any run now under way ("last May" asked in May)."""
    period = _months(now.year, first, count)
    while period.start > now or (before_current and now in period):
        period = _months(period.start.year - 1, first, count)
    return period


# Under re.IGNORECASE, four letters outside ASCII match ASCII ones: the long s (U+017F),
# the dotless and dotted i (U+0131, U+0130) and the Kelvin sign (U+212A). Matched words
# are looked up by their ASCII spelling.
_ASCII_LOOKALIKES = str.maketrans({"\u017f": "s", "\u0131": "i", "\u0130": "i", "\u212a": "k"})


def _word(matched: str) -> str:
    """A matched word as the tables spell it: lower case, ASCII."""
    return matched.translate(_ASCII_LOOKALIKES).lower()


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _one(match: re.Match[str], now: datetime) -> Period | None:
    if match["month"]:
        return _months(int(match["month_year"]), MONTHS[_word(match["month"])], 1)
    if match["season"]:
        return _months(int(match["season_year"]), SEASONS[_word(match["season"])], 3)
    if match["last"] or match["this"] or match["bare"]:
        name = _word(match["last"] or match["this"] or match["bare"])
        first, count = (SEASONS[name], 3) if name in SEASONS else (MONTHS[name], 1)
        if match["this"]:
            current = _latest(first, count, now, before_current=False)
            return current if now in current else _months(now.year, first, count)
        return _latest(first, count, now, before_current=bool(match["last"]))
    if match["year"]:
        return _months(int(match["year"]), 1, 12)
    if match["relative"]:
        which, unit = _word(match["relative"]), _word(match["relative_unit"])
        if which == "past":
            return Period(now - timedelta(days=UNITS[unit]), now + timedelta(seconds=1))
        if unit == "week":
            monday = _day(now) - timedelta(days=now.weekday())
            start = monday - timedelta(days=7) if which == "last" else monday
            return Period(start, start + timedelta(days=7))
        if unit == "month":
            start = _month_start(now.year, now.month - (1 if which == "last" else 0))
            return _months(start.year, start.month, 1)
        return _months(now.year - (1 if which == "last" else 0), 1, 12)
    if match["count"]:
        count_text = _word(match["count"])
        count = NUMBERS.get(count_text) or int(count_text)
        days = UNITS[_word(match["count_unit"])]
        # The unit around that point: "three weeks ago" is the week centred there.
        centre = now - timedelta(days=count * days)
        return Period(centre - timedelta(days=days / 2), centre + timedelta(days=days / 2))
    if match["day"]:
        today = _day(now)
        start = today - timedelta(days=1) if _word(match["day"]) == "yesterday" else today
        return Period(start, start + timedelta(days=1))
    return None


def named_period(text: str, *, now: datetime) -> Period | None:
    """The period the text names, or None when it names none."""
    periods = [period for match in _PATTERN.finditer(text) if (period := _one(match, now))]
    if not periods:
        return None
    return Period(min(p.start for p in periods), max(p.end for p in periods))


def asks_about_present(text: str) -> bool:
    """Whether the text asks how things stand now ("now", "these days", "currently"...)."""
    return _PRESENT.search(text) is not None
