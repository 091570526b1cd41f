"""Sizes in messages: Django's filesizeformat, with a plain space (command line, audit trail)."""

import pytest

from studies.limits import human_size


@pytest.mark.parametrize(
    "size, text",
    [
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1536, "1.5 KB"),
        (512 * 1024**2, "512.0 MB"),
        (20 * 1024**3, "20.0 GB"),
        (3 * 1024**4, "3.0 TB"),
    ],
)
def test_sizes_read_as_people_write_them(size, text):
    assert human_size(size) == text
