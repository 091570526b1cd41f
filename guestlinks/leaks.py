"""Whether a free-text message gives away what must never travel with a guest link.

The message goes in the same email as the link, so it must not hold the link's password, nor
the patient's birth date in any usual spelling (the birth date may be the password, and it
identifies the patient). Dates are found by shape and compared as dates, so "17/5/1970",
"1970-05-17", "19700517", "17 May 1970" and "May 17th, 1970" all match the same birth date,
while a longer run of digits (a phone or reference number) does not.
"""

import calendar
import re
from collections.abc import Iterator
from datetime import date

_MONTHS = {
    name.lower(): number
    for names in (calendar.month_name, calendar.month_abbr)
    for number, name in enumerate(names)
    if name
} | {"sept": 9}
_ORDINAL = r"(?:st|nd|rd|th)?"
# D/M/Y, M/D/Y, Y-M-D with "/", "-" or "." between the parts; 2- or 4-digit years.
_NUMERIC = re.compile(r"(?<!\d)(\d{1,4})[./-](\d{1,2})[./-](\d{4}|\d{2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{8})(?!\d)")  # YYYYMMDD or DDMMYYYY
_DAY_MONTH = re.compile(
    rf"(?<!\d)(\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?([a-z]{{3,9}})\.?,?\s+(\d{{4}}|\d{{2}})(?!\d)",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"\b([a-z]{{3,9}})\.?\s+(\d{{1,2}}){_ORDINAL},?\s+(\d{{4}}|\d{{2}})(?!\d)", re.IGNORECASE
)

# (year as written, month, day)
_Candidate = tuple[str, int, int]


def _candidates(text: str) -> Iterator[_Candidate]:
    for first, second, third in _NUMERIC.findall(text):
        if len(first) == 4:
            if len(third) <= 2:  # never a 4-digit year first and a 2-digit year last
                yield first, int(second), int(third)
        elif len(first) <= 2:
            yield third, int(second), int(first)  # day first
            yield third, int(first), int(second)  # month first
    for digits in _COMPACT.findall(text):
        yield digits[:4], int(digits[4:6]), int(digits[6:])
        yield digits[4:], int(digits[2:4]), int(digits[:2])
    for day, month, year in _DAY_MONTH.findall(text):
        if month.lower() in _MONTHS:
            yield year, _MONTHS[month.lower()], int(day)
    for month, day, year in _MONTH_DAY.findall(text):
        if month.lower() in _MONTHS:
            yield year, _MONTHS[month.lower()], int(day)


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
