"""The journeys' failure artifacts: a failing browser test leaves a screenshot of each page it
opened, the shots of its steps and the browser console; a passing one leaves nothing. Run in a
separate pytest process, as CI runs the journeys."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.chromium import CHROMIUM

ROOT = Path(__file__).parents[2]

CONFTEST = """
from tests.e2e.conftest import *  # noqa: F403  (the browser fixtures and the report hook)
from tests.e2e.conftest import pytest_runtest_makereport  # noqa: F401
"""

JOURNEY = """
def test_passes(new_page, step):
    page = new_page("guest")
    page.set_content("<h1>Fine</h1>")
    step("the page", page)


def test_fails(new_page, step):
    page = new_page("guest")
    page.set_content("<h1>Step one</h1>")
    step("step one", page)
    page.evaluate("console.error('something the page said')")
    page.set_content("<h1>Broken</h1>")
    assert False, "the journey broke"
"""


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium")
def test_a_failing_journey_leaves_screenshots_and_a_passing_one_nothing(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_journey.py").write_text(JOURNEY)
    artifacts = tmp_path / "artifacts"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "E2E_ARTIFACTS": str(artifacts)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert "browser artifacts" in run.stdout
    [folder] = artifacts.iterdir()  # nothing for the test that passed
    assert folder.name == "test_journey.py_test_fails"
    assert sorted(path.name for path in folder.iterdir()) == [
        "console.txt",
        "last-guest.png",
        "last-guest.url.txt",
        "step-01-step-one-guest.jpg",
    ]
    assert (folder / "last-guest.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "step-01-step-one-guest.jpg").read_bytes().startswith(b"\xff\xd8")
    assert "[guest] error: something the page said" in (folder / "console.txt").read_text()
