"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded browser).

Journeys run at two sizes (the `device` fixture: desktop 1366x900, and a 390x844 touch phone),
each person in a fresh browser context, all in one browser per session. When a test fails, a
screenshot of every page it opened, the screenshots taken at each `step(...)` and the browser
console are written under $E2E_ARTIFACTS (default var/e2e-artifacts/), one folder per test;
passing tests keep nothing.
"""

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from testkit.chromium import CHROMIUM, CHROMIUM_ARGS

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test body
# are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# How long a step may take before it fails: generous for a loaded 2-core CI machine, short
# enough that a journey blocked by a missing button fails in seconds.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

DEVICES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 3,
        # What a phone's Chrome says it is (the view notification names the device).
        "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    },
}

ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or Path(__file__).parents[2] / "var/e2e-artifacts")

_PAGES = pytest.StashKey[list]()  # (label, page) of every page a test opened
_STEPS = pytest.StashKey[list]()  # (step name, label, screenshot bytes) in order
_CONSOLE = pytest.StashKey[list]()  # browser console lines and page errors
_CSP = pytest.StashKey[list]()  # Content-Security-Policy violations seen on any page

# Every page of every browser test reports what the Content-Security-Policy refused (an inline
# script, a style attribute, a handler, a request elsewhere): the page's own event, and
# Chromium's console line for it. Any one fails the test (`new_page`'s teardown).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`securitypolicyviolation: ${event.violatedDirective} blocked ` +
                `${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`);
});
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


# --- artifacts on failure ----------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # After pytest's own xfail handling: an expected failure is reported as skipped, not failed.
    if report.failed and report.when in ("setup", "call") and item.stash.get(_PAGES, None):
        try:
            where = _write_artifacts(item)
        except Exception as exc:  # never hide the test's own failure behind ours
            where = f"(could not write browser artifacts: {exc!r})"
        report.sections.append(("browser artifacts", str(where)))
    return report


def _write_artifacts(item) -> Path:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("e2e/")[-1])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for number, (name, label, shot) in enumerate(item.stash.get(_STEPS, []), start=1):
        (folder / f"step-{number:02d}-{_slug(name)}-{label}.jpg").write_bytes(shot)
    for label, page in item.stash[_PAGES]:
        if page.is_closed():
            continue
        (folder / f"last-{label}.url.txt").write_text(page.url + "\n")
        page.screenshot(path=str(folder / f"last-{label}.png"), full_page=True, timeout=5_000)
    (folder / "console.txt").write_text("\n".join(item.stash.get(_CONSOLE, [])) + "\n")
    return folder


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def _track(item, page, label: str) -> None:
    item.stash.setdefault(_PAGES, []).append((label, page))
    console = item.stash.setdefault(_CONSOLE, [])
    violations = item.stash.setdefault(_CSP, [])

    def on_console(message) -> None:
        line = f"[{label}] {message.type}: {message.text}"
        console.append(line)
        if "securitypolicyviolation" in message.text or "Content Security Policy" in message.text:
            violations.append(f"{line} ({page.url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"[{label}] page error: {error}"))


@pytest.fixture
def step(request):
    """Name a step of a journey and photograph the page(s) at it. The shots stay in memory and
    are written only if the test fails, so a failure shows how the journey got there."""

    def _step(name: str, *pages) -> None:
        shots = request.node.stash.setdefault(_STEPS, [])
        tracked = {id(page): label for label, page in request.node.stash.get(_PAGES, [])}
        for page in pages:
            # CSS pixels and JPEG: a phone's 3x screen would cost ten times as much as PNG.
            shot = page.screenshot(type="jpeg", quality=60, scale="css", timeout=5_000)
            shots.append((name, tracked.get(id(page), "page"), shot))

    return _step


# --- browser, contexts, pages ------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs Debian's chromium.")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def csp_violations(request) -> list[str]:
    """The violations the test's pages reported so far (a test may check and clear them)."""
    return request.node.stash.setdefault(_CSP, [])


@pytest.fixture
def new_page(browser, request):
    """A factory for extra fresh browser contexts (a second person, a guest). When the test
    ends, any Content-Security-Policy violation on any of its pages fails it."""
    contexts = []

    def _new_page(label: str = "", **options):
        context = browser.new_context(
            **{"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", **options}
        )
        contexts.append(context)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.set_default_timeout(15_000)
        _track(request.node, page, label or f"page{len(contexts)}")
        return page

    yield _new_page
    for context in contexts:
        context.close()
    _wait_for_live_server_requests()
    violations = csp_violations(request)
    if violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(violations))


def _wait_for_live_server_requests(seconds: float = 15.0) -> None:
    """Let the live server finish the requests the closed browser left behind (a viewer keeps
    loading its series) before the test's database is flushed. On the embedded leg the server's
    threads share the test's in-memory SQLite connection, and a flush that meets a query still
    running there fails with "database table is locked", breaking the next test too."""
    import threading
    import time

    def serving() -> list[threading.Thread]:
        return [
            thread
            for thread in threading.enumerate()
            if getattr(getattr(thread, "_target", None), "__name__", "") == "process_request_thread"
        ]

    deadline = time.monotonic() + seconds
    while (threads := serving()) and time.monotonic() < deadline:
        threads[0].join(timeout=deadline - time.monotonic())


@pytest.fixture
def page(new_page):
    return new_page("page")


@pytest.fixture(params=list(DEVICES))
def device(request):
    """The size a journey runs at: desktop and phone (phone only:
    `@pytest.mark.parametrize("device", ["phone"], indirect=True)`)."""
    return request.param


@pytest.fixture
def person(new_page, device):
    """A new person at the journey's size, in their own fresh browser context:
    `person("guest")`, or `person("clinician", device="desktop")` for another size."""

    def _person(label: str, *, device: str = device):
        page = new_page(f"{label}-{device}", **DEVICES[device])
        page.set_default_timeout(TIMEOUT_MS)
        return page

    return _person


# --- the people and studies of the journeys ---------------------------------------------------


@pytest.fixture
def site(settings, live_server, tmp_path):
    """The live server, configured as a deployment is: links in emails and SMS point at it
    (SITE_URL set explicitly), and text messages go to an outbox folder the test reads. (What
    links say when SITE_URL is left unset is issue 9 item 2's own test.)"""
    settings.SITE_URL = live_server.url
    settings.SMS_BACKEND = "notifications.sms_backends.OutboxBackend"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms-outbox"
    return live_server


@pytest.fixture
def clinic(transactional_db):
    """The organisations, worklists, people and studies of the journeys (tests/e2e/journeys.py)."""
    from tests.e2e.journeys import build_clinic

    return build_clinic()


@pytest.fixture
def small_clinic(transactional_db):
    """The same without the recipients of shares: the clinician, the study and its prior."""
    from tests.e2e.journeys import build_clinic

    return build_clinic(recipients=False)


def log_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


@pytest.fixture(autouse=True)
def _links_open_the_live_server(request, settings):
    """Links in emails, SMS and the guest-link panel point at the server the browser uses (as
    `make run` makes them point at its HOST and PORT)."""
    if "live_server" in request.fixturenames:
        settings.SITE_URL = request.getfixturevalue("live_server").url
