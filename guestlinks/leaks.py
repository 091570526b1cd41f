"""Whether a free-text message gives away what must never travel with a guest link.

The message goes in the same email as the link, so it must not hold the link's password, nor
the patient's birth date in any spelling a person or a hospital system would use (the birth
date may be the password, and it identifies the patient).

Dates are found by shape after normalising the text, then compared as dates. The text is cut
into runs of digits and runs of letters (so "21JUL1990" is three parts, and "21st" is 21); three
neighbouring parts joined only by spaces or punctuation (/ . - , _ ' and the like, or nothing)
are read as day-month-year, month-day-year or year-month-day, with the month as a number, an
English name or abbreviation, or a Roman numeral (21.VII.1990). A year may have two digits
only in last place, where "21/07/90" cannot mean anything else. A run of 6 or 8 digits is also
read as DDMMYY(YY), MMDDYY(YY) or YYYYMMDD. Nothing else is a date: a day and month
without a year, a time ("17:05"), or a longer run of digits (a phone or reference number).
"""

import calendar
import re
import unicodedata
from collections.abc import Iterator
from datetime import date

_MONTH_WORDS = {
    name.lower(): number
    for names in (calendar.month_name, calendar.month_abbr)
    for number, name in enumerate(names)
    if name
} | {"sept": 9}
_ROMAN_MONTHS = {
    roman: number
    for number, roman in enumerate(
        ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"], start=1
    )
}
# A run of digits or of letters, and what joins it to the previous run.
_PART = re.compile(r"(?P<sep>[^0-9a-z]*)(?P<part>[0-9]+|[a-z]+)")
# What may stand between the parts of a date: spaces and punctuation, a few characters at most.
_JOINER = re.compile(r"[\s/.\-,_'\\\u2010-\u2015]{0,3}")
_ORDINAL_SUFFIXES = {"st", "nd", "rd", "th"}

# (year as written, month, day)
_Candidate = tuple[str, int, int]


def _parts(text: str) -> list[list[str]]:
    """Runs of digits or letters; each list holds runs joined only by date punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    groups: list[list[str]] = [[]]
    for match in _PART.finditer(text):
        part, joiner = match["part"], match["sep"]
        current = groups[-1]
        if not _JOINER.fullmatch(joiner):
            current = []
            groups.append(current)
        previous = current[-1] if current else ""
        if joiner == "" and part in _ORDINAL_SUFFIXES and previous.isdigit():
            continue  # "21st" is the day 21
        if part == "of" and previous.isdigit() and len(previous) <= 2:
            continue  # "21st of July"
        current.append(part)
    return [group for group in groups if group]


def _month(part: str) -> int | None:
    if part.isdigit():
        return int(part) if len(part) <= 2 else None
    return _MONTH_WORDS.get(part) or _ROMAN_MONTHS.get(part)


def _day(part: str) -> int | None:
    return int(part) if part.isdigit() and len(part) <= 2 else None


def _year(part: str, *, short_allowed: bool) -> str | None:
    if part.isdigit() and (len(part) == 4 or (short_allowed and len(part) == 2)):
        return part
    return None


def _from_three(first: str, second: str, third: str) -> Iterator[_Candidate]:
    # Day, month, year and month, day, year: the year last may have 2 digits.
    year = _year(third, short_allowed=True)
    if year is not None:
        day, month = _day(first), _month(second)
        if day is not None and month is not None:
            yield year, month, day
        month, day = _month(first), _day(second)
        if day is not None and month is not None:
            yield year, month, day
    # Year, month, day: only with a 4-digit year.
    year = _year(first, short_allowed=False)
    month, day = _month(second), _day(third)
    if year is not None and month is not None and day is not None:
        yield year, month, day


def _from_digits(digits: str) -> Iterator[_Candidate]:
    if len(digits) == 8:
        yield digits[:4], int(digits[4:6]), int(digits[6:])  # YYYYMMDD
        yield digits[4:], int(digits[2:4]), int(digits[:2])  # DDMMYYYY
        yield digits[4:], int(digits[:2]), int(digits[2:4])  # MMDDYYYY
    elif len(digits) == 6:
        yield digits[4:], int(digits[2:4]), int(digits[:2])  # DDMMYY
        yield digits[4:], int(digits[:2]), int(digits[2:4])  # MMDDYY


def _candidates(text: str) -> Iterator[_Candidate]:
    for group in _parts(text):
        for index, part in enumerate(group):
            if part.isdigit():
                yield from _from_digits(part)
            if index + 2 < len(group):
                yield from _from_three(*group[index : index + 3])


def mentions_date(text: str, day: date) -> bool:
    """Whether `text` spells `day` in a common written form (2-digit years included)."""
    for year, month, day_of_month in _candidates(text):
        same_year = int(year) == (day.year if len(year) == 4 else day.year % 100)
        if same_year and (month, day_of_month) == (day.month, day.day):
            return True
    return False


def mentions_secret(text: str, secret: str) -> bool:
    """Whether `text` contains `secret`, ignoring case (a recipient would try both)."""
    return bool(secret) and secret.casefold() in text.casefold()
