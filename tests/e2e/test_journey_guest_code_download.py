"""A recipient opens a guest link with a one-time code and downloads, on a phone and at
desktop size: the password, then the code read from the email (a wrong one first), the viewer,
the study as a zip (its DICOMDIR read back, every file byte-equal to the stored one) and the
image on screen as PNG. The code by SMS, with a new code asked for, on a phone.

Links are made through the service; the clinician's panel journey shows the checkboxes.
"""

import re
import zipfile

import pydicom
import pytest
from playwright.sync_api import expect
from pydicom.fileset import FileSet

from guestlinks import services
from guestlinks.models import GuestLink
from studies.models import Instance
from tests.e2e.journeys import expect_image_loaded, labelled, link_in, sms_texts, the_email

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = pytest.mark.parametrize("device", ["phone"], indirect=True)

GUEST_PASSWORD = "harbour-lights-9"
CODE_SUBJECT = "Your code to open the shared images"


def send_link(clinic, **options):
    services.guestlink_create(
        actor=clinic.clinician,
        study=clinic.study,
        worklist=clinic.radiology,
        password=GUEST_PASSWORD,
        one_time_code=True,
        **options,
    )
    email = the_email(to="guest@example.net", subject="shared medical images with you")
    return link_in(email.body, path="/g/")


def enter_password(guest):
    labelled(guest, "Password").fill(GUEST_PASSWORD)
    guest.get_by_role("button", name="Open study").click()


def enter_code(guest, code):
    labelled(guest, "Code").fill(code)
    guest.get_by_role("button", name="Open study").click()


def codes_texted():
    return [text for text in sms_texts(to="+447911123456") if "code is" in text]


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_then_downloads(person, site, small_clinic, step, tmp_path):
    clinic = small_clinic
    url = send_link(clinic, email="guest@example.net", allow_download=True)
    guest = person("guest")
    guest.goto(url)
    enter_password(guest)
    expect(guest.get_by_role("heading", name="Enter the code we sent you")).to_be_visible()
    expect(guest.get_by_text("by email to g…@example.net")).to_be_visible()
    expect(labelled(guest, "Code")).to_be_focused()
    step("the code is asked for", guest)

    code = re.search(r"\b(\d{6})\b", the_email(to="guest@example.net", subject=CODE_SUBJECT).body)
    assert code is not None
    enter_code(guest, wrong(code.group(1)))
    expect(guest.get_by_role("alert")).to_have_text("That code is not right. 4 attempts left.")
    step("a wrong code", guest)
    enter_code(guest, code.group(1))
    expect(guest.get_by_role("banner", name="Patient")).to_contain_text("OKAFOR, Chidi")
    expect_image_loaded(guest.locator("#viewer-image"))
    link = GuestLink.objects.get()
    assert link.use_count == 1 and link.code_failures == 1

    # The study as a zip, from the Download menu.
    guest.get_by_role("button", name="Download").click()
    menu = guest.get_by_role("dialog", name="Download")
    expect(menu).to_be_visible()
    step("the download menu", guest)
    with guest.expect_download() as started:
        menu.get_by_role("button", name="Study (DICOM files, zip)").click()
    download = started.value
    assert download.suggested_filename == "study-20261120.zip"
    saved = tmp_path / "study.zip"
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        archive.extractall(tmp_path / "cd")
    fileset = FileSet(pydicom.dcmread(tmp_path / "cd" / "DICOMDIR"))
    stored = {i.sop_instance_uid: i for i in Instance.objects.filter(series__study=clinic.study)}
    assert {record.SOPInstanceUID for record in fileset} == set(stored) and len(stored) == 15
    for record in fileset:
        with stored[record.SOPInstanceUID].file.open("rb") as original:
            assert (tmp_path / "cd" / record.FileID).read_bytes() == original.read()

    # The image on screen, as PNG: the fourth slice.
    guest.get_by_role("button", name="Close").click()
    guest.locator("#viewer-stage").focus()
    for _ in range(3):
        guest.keyboard.press("ArrowDown")
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 4/12")
    guest.get_by_role("button", name="Download").click()
    with guest.expect_download() as started:
        menu.get_by_role("button", name="This image (PNG)").click()
    image = started.value
    assert image.suggested_filename == "study-20261120-image-4-1.png"
    image.save_as(tmp_path / "image.png")
    assert (tmp_path / "image.png").read_bytes().startswith(b"\x89PNG")
    from guestlinks.models import GuestLinkAccess

    assert GuestLinkAccess.objects.filter(outcome="downloaded").count() == 2


@PHONE
def test_a_code_by_sms_and_a_new_code(person, site, small_clinic, step, settings):
    settings.GUESTLINK_CODE_RESEND_SECONDS = 0
    url = send_link(small_clinic, email="guest@example.net", mobile="+447911123456")
    guest = person("guest")
    guest.goto(url)
    enter_password(guest)
    expect(guest.get_by_text("by SMS to the mobile number ending 56")).to_be_visible()
    first = codes_texted()
    assert len(first) == 1
    guest.get_by_role("button", name="send a new code").click()
    expect(guest.get_by_role("status")).to_have_text("A new code is on its way.")
    step("a new code", guest)
    texts = codes_texted()
    assert len(texts) == 2
    (new,) = set(texts) - set(first)  # the outbox's files are named to the second only
    code = re.search(r"code is (\d{6})", new)
    assert code is not None
    enter_code(guest, code.group(1))
    expect_image_loaded(guest.locator("#viewer-image"))
    # No Download menu on a link without the option.
    expect(guest.get_by_role("button", name="Download")).to_have_count(0)
