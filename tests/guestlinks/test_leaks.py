"""The birth-date guard on guest-link messages, on text alone (the service test drives it
through `guestlink_create`)."""

from datetime import date

import pytest

from guestlinks.leaks import mentions_date, mentions_secret

BORN = date(1990, 7, 21)


@pytest.mark.parametrize(
    "text",
    [
        # day, month, year with any separator, or none
        "21/07/1990",
        "21-07-1990",
        "21.07.1990",
        "21 07 1990",
        "21/7/1990",
        "21_07_1990",
        "21 / 07 / 1990",
        "21–07–1990",  # an en dash, as word processors type it
        "21071990",
        "21/07/90",
        "21.7.90",
        "210790",
        # year, month, day
        "1990-07-21",
        "1990/07/21",
        "1990 07 21",
        "1990.7.21",
        "19900721",
        # month, day, year (American)
        "07/21/1990",
        "7-21-90",
        "07211990",
        # month names and abbreviations, upper or lower case, with or without separators
        "21-Jul-1990",
        "21 Jul 1990",
        "21JUL1990",
        "21-JUL-90",
        "1990-Jul-21",
        "1990 JUL 21",
        "21 July 1990",
        "21 july, 1990",
        "July 21, 1990",
        "Jul. 21 1990",
        "Tuesday 21 July 1990",
        # ordinal days
        "21st July 1990",
        "21st of July 1990",
        "July 21st, 1990",
        "the 21ST JULY 1990",
        # Roman-numeral months
        "21.VII.1990",
        "21 vii 1990",
        "21-VII-90",
        "1990.VII.21",
        # full-width digits, as some systems paste them
        "２１/０７/１９９０",
        # inside a sentence
        "Mr Smith (born 21-Jul-1990) had his CT today.",
        "DOB:21/07/1990.",
    ],
)
def test_spellings_of_the_birth_date_are_found(text):
    assert mentions_date(text, BORN)


@pytest.mark.parametrize(
    "text",
    [
        "Please open it soon; the report follows.",
        "Scan of 21/07/2024, follow-up on 21 July.",  # another year, or no year at all
        "Appointment on 21 July at 10:30 in room 1990.",
        "Seen at 21:07, 1990 Road, ward 7.",  # a time is not a day and month
        "Call 0161 496 0721 or 07700 900721 11.",  # phone numbers
        "Ref 1990072112 and 219907211.",  # longer runs of digits are not the date
        "Give 21 mg twice daily for 7 days; recheck in 1990 minutes.",
        "His brother was born 22/07/1990 and his mother 21/07/1960.",
        "In July 1990 he had 21 stitches.",
        "Series 21, image 7 of 1990 slices.",
        "Version 21.7.1991 of the protocol.",
    ],
)
def test_ordinary_messages_are_not_refused(text):
    assert not mentions_date(text, BORN)


def test_two_digit_years_are_read_only_where_they_cannot_mean_anything_else():
    # A 2-digit year comes last; first, "90 07 21" or "900721" could as well be a day or part
    # of a phone number.
    assert not mentions_date("90 07 21", BORN)
    assert not mentions_date("900721", BORN)
    assert mentions_date("21 07 90", BORN)


def test_the_password_is_found_whatever_its_case():
    assert mentions_secret("pw: OPEN-sesame.", "open-sesame")
    assert not mentions_secret("no secret here", "")
