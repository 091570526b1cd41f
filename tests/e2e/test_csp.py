"""No page breaks the Content-Security-Policy: every browser test fails on a violation
(tests/e2e/conftest.py, `new_page`); these open the pages no journey reaches and prove that
the listener sees a violation when there is one."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.conftest import csp_violations, log_in
from tests.factories import PASSWORD, UserFactory, ct_series

pytestmark = pytest.mark.django_db(transaction=True)

INLINE_SCRIPT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.inlineRan = true;";
  document.body.append(script);
  const styled = document.createElement("p");
  styled.setAttribute("style", "color: red");
  document.body.append(styled);
  return window.inlineRan === true;
}"""


def test_an_inline_script_is_refused_and_reported(page, live_server, request, db):
    page.goto(f"{live_server.url}{reverse('accounts:login')}")
    assert page.evaluate(INLINE_SCRIPT) is False  # the policy refused it
    violations = csp_violations(request)
    page.wait_for_function("() => true")  # let the console events arrive
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert any("script-src" in line for line in violations), violations
    assert any("style-src" in line for line in violations), violations
    violations.clear()  # seen: this test is about the listener, not the page


def test_account_tokens_viewer_and_admin_pages_keep_the_policy(
    page, live_server, read_only, study, worklist
):
    ct_series(study, slices=2)
    log_in(page, live_server, "readonly", PASSWORD)
    page.goto(f"{live_server.url}{reverse('accounts:account')}")
    expect(page.get_by_role("button", name="Log out everywhere")).to_be_visible()
    page.goto(f"{live_server.url}{reverse('accounts:api_tokens')}")
    page.get_by_label("Name").fill("viewer")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Token")
    token.focus()  # api_tokens.js selects it
    expect(token).to_be_focused()
    # The script is deferred: wait for the selection rather than read it once.
    page.wait_for_function(
        "() => document.activeElement.selectionEnd - document.activeElement.selectionStart > 0"
    )
    page.goto(
        f"{live_server.url}{reverse('studies:viewer', args=[study.public_id])}"
        f"?worklist={worklist.public_id}"
    )
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    UserFactory(username="root", is_staff=True, is_superuser=True)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}{reverse('admin:index')}")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}{reverse('admin:accounts_user_changelist')}")
    expect(page.get_by_role("link", name="readonly")).to_be_visible()
