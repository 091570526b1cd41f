"""What the journey tests share: the people and studies of the two user guides, the outbox as a
recipient reads it, and assertions about what a person sees."""

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import mail
from playwright.sync_api import Locator, Page, expect

from tests.factories import (
    OrganisationFactory,
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    ct_series,
    grant,
    partnership,
)
from worklists.models import Worklist
from worklists.services import personal_worklist_ensure

# How long to wait for what the HTML of a page already shown holds (a button, a link): short,
# so that a journey step that is missing fails in seconds, not in the default timeout.
PRESENT_MS = 3_000

BIRTH_DATE = datetime.date(1970, 5, 17)
BIRTH_DATE_PASSWORD = "19700517"  # the guide's YYYYMMDD
VIEWER = ("view_studies",)


@dataclass
class Clinic:
    """Two organisations with a partnership, as an administrator sets them up.

    St Elsewhere: the Radiology location (where the study and its prior are), the Emergency
    location and the Chest MDT group, the clinician who shares (every permission on Radiology),
    a physician and a colleague reached by email. Northfield Clinic, a partner: its
    organisation inbox and a Cardiology location reached by share code. Each recipient can view
    one worklist only, so the worklist they land on after logging in is the one shared into.
    """

    home: Any
    partner: Any
    radiology: Any
    emergency: Any
    chest_mdt: Any
    northfield_inbox: Any
    cardiology: Any
    clinician: Any
    study: Any
    prior: Any
    physician: Any = None
    colleague: Any = None
    # username -> the worklist they should find a shared study in
    recipients: dict = field(default_factory=dict)


def build_clinic(*, recipients=True):  # type: ignore[no-untyped-def]
    """The Clinic, made through the factories and the membership service."""
    home = OrganisationFactory(name="St Elsewhere")
    partner = OrganisationFactory(name="Northfield Clinic")
    partnership(home, partner)  # an administrator allowed St Elsewhere to share with Northfield
    kinds = Worklist.Kind
    radiology = WorklistFactory(organisation=home, name="Radiology", kind=kinds.LOCATION)
    emergency = WorklistFactory(organisation=home, name="Emergency", kind=kinds.LOCATION)
    chest_mdt = WorklistFactory(organisation=home, name="Chest MDT", kind=kinds.GROUP)
    northfield_inbox = WorklistFactory(
        organisation=partner, name="Northfield inbox", kind=kinds.ORGANISATION
    )
    cardiology = WorklistFactory(organisation=partner, name="Cardiology", kind=kinds.LOCATION)

    def person(username, first, last, organisation, **extra):  # type: ignore[no-untyped-def]
        return UserFactory(
            username=username,
            first_name=first,
            last_name=last,
            organisation=organisation,
            email=f"{username}@example.org",
            **extra,
        )

    clinician = person("morgan", "Morgan", "Lee", home, title="Dr")
    grant(clinician, radiology)  # every product permission
    study = StudyFactory(
        patient_name="Okafor^Chidi",
        patient_id="OKA-1",
        patient_birth_date=BIRTH_DATE,
        study_date=datetime.date(2026, 11, 20),
        study_description="CT chest",
    )
    add_to_worklist(study, radiology)
    ct_series(study, slices=12, size=128, number=1, series_description="Axial")
    ct_series(study, slices=3, size=128, number=2, series_description="Coronal")
    prior = StudyFactory(
        patient_name="Okafor^Chidi",
        patient_id="OKA-1",
        patient_birth_date=BIRTH_DATE,
        study_date=datetime.date(2024, 2, 3),
        study_description="CT chest (prior)",
    )
    add_to_worklist(prior, radiology)
    ct_series(prior, slices=2, size=128, number=1, series_description="Axial")
    for name in ("Other^Person", "Someone^Else"):  # so that finding the study is a real search
        add_to_worklist(StudyFactory(patient_name=name), radiology)

    clinic = Clinic(
        home=home,
        partner=partner,
        radiology=radiology,
        emergency=emergency,
        chest_mdt=chest_mdt,
        northfield_inbox=northfield_inbox,
        cardiology=cardiology,
        clinician=clinician,
        study=study,
        prior=prior,
    )
    if recipients:
        physician = person("ada", "Ada", "Lovelace", home)
        colleague = person("grace", "Grace", "Hopper", home)
        emma = person("emma", "Emma", "Stone", home)
        grant(emma, emergency, *VIEWER)
        mo = person("mo", "Mo", "Farah", home)
        grant(mo, chest_mdt, *VIEWER)
        nina = person("nina", "Nina", "North", partner)
        grant(nina, northfield_inbox, *VIEWER)
        carl = person("carl", "Carl", "Hart", partner)
        grant(carl, cardiology, *VIEWER)
        clinic.physician, clinic.colleague = physician, colleague
        clinic.recipients = {
            "nina": northfield_inbox,
            "emma": emergency,
            "mo": chest_mdt,
            "ada": personal_worklist_ensure(user=physician),
            "carl": cardiology,
            "grace": personal_worklist_ensure(user=colleague),
        }
    return clinic


# --- the outbox, as the recipient reads it ----------------------------------------------------

URL = re.compile(r"https?://[^\s<>\"']+")


def emails(*, to: str, subject: str = "") -> list:
    """Emails sent to `to` (whose subject contains `subject`), oldest first. Everything a page
    sends is in the outbox by the time the page's response is shown: delivery runs on commit,
    in the request (Celery eager)."""
    return [
        message
        for message in mail.outbox
        if to in message.to and subject.lower() in message.subject.lower()
    ]


def the_email(*, to: str, subject: str = "") -> Any:
    found = emails(to=to, subject=subject)
    sent = [f"{m.to} {m.subject!r}" for m in mail.outbox]
    assert len(found) == 1, f"one email to {to} about {subject!r} expected; the outbox: {sent}"
    return found[0]


def link_in(text: str, *, path: str) -> str:
    """The one link in a message body whose path starts with `path`, as a person clicks it."""
    links = [url for url in URL.findall(text) if re.match(rf"https?://[^/]+{re.escape(path)}", url)]
    assert len(links) == 1, f"one {path} link expected in:\n{text}"
    return links[0]


def sms_texts(*, to: str) -> list[str]:
    """Text messages the SMS outbox holds for `to` (E.164)."""
    folder = Path(settings.SMS_OUTBOX_DIR)
    texts = []
    for path in sorted(folder.glob("*.txt")) if folder.exists() else []:
        head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        if head == f"To: {to}":
            texts.append(body.strip())
    return texts


# --- what a person sees -----------------------------------------------------------------------


def expect_image_loaded(image: Locator) -> None:
    """The image is shown: decoded by the browser, with real pixels (not a broken image)."""
    expect(image).to_be_visible()
    expect(image).to_have_js_property("complete", True)
    expect(image).not_to_have_js_property("naturalWidth", 0)


def study_row(page: Page, study: Any) -> Locator:
    """The worklist row of `study` (its patient's priors have rows too)."""
    return (
        page.get_by_role("row")
        .filter(has_text=study.study_date.strftime("%d/%m/%Y"))
        .filter(has=page.get_by_role("link", name=study.patient_display_name))
    )


def find_study(page: Page, query: str, study: Any, *, count: str) -> None:
    """Search the worklist (for a patient's name, say) and see the study among `count`."""
    filters = page.locator("details.filters")
    toggle = filters.locator("> summary")
    # A phone folds the filters away while none is set: open them, as a person would.
    if toggle.is_visible() and filters.get_attribute("open") is None:
        toggle.click()
    page.get_by_role("searchbox", name="Search").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".result-count")).to_have_text(count)
    expect(study_row(page, study)).to_be_visible()


def expect_worklist(page: Page, name: str, study: Any) -> None:
    """The person is on worklist `name` and sees `study` in it."""
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Your worklists").locator("[aria-current=page]")
    ).to_contain_text(name)
    expect(study_row(page, study)).to_be_visible()


def open_study(page: Page, study: Any) -> None:
    study_row(page, study).get_by_role("link", name=study.patient_display_name).click()
    expect(page.get_by_role("heading", level=1, name=study.patient_display_name)).to_be_visible()


def open_actions_share(page: Page) -> Locator:
    """The guide's steps on the study page: the 'Actions' dropdown, then 'Share' (issue 9 item
    7). Returns the share dialog."""
    actions = page.get_by_role("button", name=re.compile(r"^\s*Actions")).or_(
        page.locator("summary").filter(has_text=re.compile(r"^\s*Actions"))
    )
    actions.first.click(timeout=PRESENT_MS)
    share = (
        page.get_by_role("menuitem", name="Share", exact=True)
        .or_(page.get_by_role("link", name="Share", exact=True))
        .or_(page.get_by_role("button", name="Share", exact=True))
    )
    share.first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Share a study")).to_be_visible()
    return dialog


def share_selected(page: Page, study: Any) -> Locator:
    """The guide's steps on the worklist: select the study, 'Actions', 'Share'. Returns the
    share dialog."""
    study_row(page, study).get_by_role("checkbox").check()
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("button", name="Share selected…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Share a study")).to_be_visible()
    expect(dialog.locator(".share-studies")).to_contain_text(study.patient_display_name)
    return dialog


def labelled(scope: Page | Locator, label: str) -> Locator:
    """The form field labelled exactly `label` (required fields add an asterisk to it)."""
    return scope.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def while_serving(write: Any, *, seconds: float = 10.0) -> Any:
    """Run a test's own database write while the live server is answering the browser.

    On the embedded leg the live server shares one in-memory SQLite database (shared cache),
    where a write meets "database table is locked" while a server thread is reading that table;
    SQLite's busy timeout does not cover that case, so the write is tried again until the
    viewer's requests let it through (PostgreSQL never raises it).
    """
    import time

    from django.db import OperationalError

    deadline = time.monotonic() + seconds
    while True:
        try:
            return write()
        except OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
