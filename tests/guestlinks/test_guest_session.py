"""The guest session: what it reaches, what ends it, and what it never reaches."""

import datetime
import time
from importlib import import_module
from uuid import UUID

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from audit.models import AuditEvent
from guestlinks import services
from guestlinks.access import SESSION_KEY, get_guest_session, guest_study_ids
from guestlinks.models import GuestLink
from tests.factories import InstanceFactory, SeriesFactory, StudyFactory, add_to_worklist, ct_series
from tests.guestlinks.conftest import open_link, viewer_url

pytestmark = pytest.mark.django_db

UNAVAILABLE = "This link is no longer available"


@pytest.fixture
def series(study):
    series = SeriesFactory(study=study, series_description="Axial lung", series_number=3)
    InstanceFactory(series=series)
    return series


@pytest.fixture
def prior(study, worklist):
    prior = StudyFactory(
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        study_date=datetime.date(2021, 1, 5),
        study_description="CT chest (old)",
    )
    add_to_worklist(prior, worklist)
    return prior


def guest_request(client):
    """A request carrying the client's session, as a viewer endpoint would receive it."""
    engine = import_module(django_settings.SESSION_ENGINE)
    request = RequestFactory().get("/")
    request.session = engine.SessionStore(client.cookies[django_settings.SESSION_COOKIE_NAME].value)
    request.user = AnonymousUser()
    return request


def test_viewer_shows_the_banner_and_series(client, make_link, study, series):
    link = make_link()
    response = client.get(open_link(client, link)["Location"])
    body = response.content.decode()
    assert response.status_code == 200
    assert study.patient_display_name in body and "17/05/1970" in body
    assert "Axial lung" in body
    # No way into the rest of the app.
    for path in ("/studies/", "/accounts/", "/admin/", reverse("worklists:home") + '"'):
        assert f'href="{path}' not in body
    event = AuditEvent.objects.get(action=AuditEvent.Action.STUDY_OPENED)
    assert event.guest_link_id == link.public_id and event.actor is None


def test_the_image_endpoints_serve_only_the_granted_study(client, make_link, study):
    other = StudyFactory()
    mine, theirs = ct_series(study, slices=1), ct_series(other, slices=1)
    open_link(client, make_link())
    request = guest_request(client)
    assert guest_study_ids(request) == {study.pk}

    def thumbnail(series):  # type: ignore[no-untyped-def]
        kwargs = {"study": series.study.study_instance_uid, "series": series.series_instance_uid}
        return reverse("dicomweb:series_thumbnail", kwargs=kwargs)

    assert client.get(thumbnail(mine)).status_code == 200
    assert client.get(thumbnail(theirs)).status_code == 404


def test_priors_only_when_included(client, make_link, study, prior):
    later_elsewhere = StudyFactory(
        patient_id=study.patient_id, study_date=datetime.date(2020, 1, 1)
    )
    open_link(client, make_link())
    assert guest_study_ids(guest_request(client)) == {study.pk}
    assert client.get(viewer_url(prior)).status_code == 404

    open_link(client, make_link(include_priors=True))
    assert guest_study_ids(guest_request(client)) == {study.pk, prior.pk}
    response = client.get(viewer_url(study))
    # The shared viewer lists the priors in its data and loads them in place.
    listed = [item["uid"] for item in response.context["viewer_data"]["studies"]]
    assert listed == [study.study_instance_uid, prior.study_instance_uid]
    assert client.get(viewer_url(prior)).status_code == 200
    # A prior in a worklist the link does not belong to stays out of reach.
    assert client.get(viewer_url(later_elsewhere)).status_code == 404


def test_deleting_the_link_ends_a_live_session(client, make_link, owner, study):
    link = make_link()
    open_link(client, link)
    assert client.get(viewer_url(study)).status_code == 200
    services.guestlink_delete(actor=owner, link=link)
    response = client.get(viewer_url(study))
    assert response.status_code == 404 and UNAVAILABLE in response.content.decode()
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize(
    ("change", "lives"),
    [
        ({"expires_at": timezone.now() - datetime.timedelta(seconds=1)}, False),
        ({"locked_at": timezone.now()}, False),
        ({"use_count": 1}, True),  # used up: the session already granted lives on
    ],
    ids=["expired", "locked", "used_up"],
)
def test_link_state_is_rechecked_on_every_request(client, make_link, study, change, lives):
    link = make_link(max_uses=1)
    open_link(client, link)
    GuestLink.objects.filter(pk=link.pk).update(**change)
    assert (client.get(viewer_url(study)).status_code == 200) is lives


def test_idle_timeout(client, make_link, study, settings):
    open_link(client, make_link())
    session = client.session
    data = session[SESSION_KEY]
    data["seen"] = int(time.time()) - settings.GUEST_SESSION_IDLE_SECONDS + 5
    session[SESSION_KEY] = data
    session.save()
    assert client.get(viewer_url(study)).status_code == 200  # still within 30 minutes: touched
    assert client.session[SESSION_KEY]["seen"] >= int(time.time()) - 2
    session = client.session
    data = session[SESSION_KEY]
    data["seen"] = int(time.time()) - settings.GUEST_SESSION_IDLE_SECONDS - 1
    session[SESSION_KEY] = data
    session.save()
    assert client.get(viewer_url(study)).status_code == 404
    assert SESSION_KEY not in client.session


def test_session_cookie_expires_when_idle(client, make_link, settings):
    open_link(client, make_link())
    assert client.session.get_expiry_age() == settings.GUEST_SESSION_IDLE_SECONDS == 1800


def test_session_never_outlives_the_link(client, make_link, study):
    link = make_link(expires_at=timezone.now() + datetime.timedelta(minutes=10))
    open_link(client, link)
    guest = get_guest_session(guest_request(client))
    assert guest.ends_at == link.expires_at  # before the 30-minute idle timeout
    GuestLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    assert client.get(viewer_url(study)).status_code == 404
    other = make_link()
    open_link(client, other)
    guest = get_guest_session(guest_request(client))
    idle_end = timezone.now() + datetime.timedelta(minutes=30)
    assert abs(guest.ends_at - idle_end) < datetime.timedelta(seconds=5)


def test_end_session(client, make_link, study):
    open_link(client, make_link())
    response = client.post(reverse("guestlinks:end"))
    assert response.status_code == 200 and "Session ended" in response.content.decode()
    assert client.get(viewer_url(study)).status_code == 404
    assert client.get(reverse("guestlinks:end")).status_code == 405


def test_without_a_session_the_viewer_is_unavailable(client, study):
    response = client.get(viewer_url(study))
    assert response.status_code == 404 and UNAVAILABLE in response.content.decode()


def test_guests_never_reach_clinician_pages_or_the_admin(client, make_link, study, worklist):
    open_link(client, make_link())
    for url in (
        reverse("worklists:home"),
        reverse("worklists:detail", args=[worklist.public_id]),
        reverse("studies:detail", args=[study.public_id]),
        reverse("admin:index"),
        reverse("admin:guestlinks_guestlink_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "login" in response["Location"], url


def test_logging_in_ends_the_guest_session(client, make_link, study, owner):
    open_link(client, make_link())
    client.force_login(owner)
    assert SESSION_KEY not in client.session
    assert client.get(viewer_url(study)).status_code == 404


# --- a guest cannot fetch anything of another study -------------------------------------


def _patterns(resolvers, namespace=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def _kwargs_for(pattern, study, series, instance):
    """Fill a URL's parameters from a study, by name and converter; None if it is not about
    a study (so the walk covers whatever study, series, instance and frame URLs exist)."""
    converters = getattr(pattern.pattern, "converters", None) or dict.fromkeys(
        pattern.pattern.regex.groupindex
    )
    values, about_study = {}, False
    for name, converter in converters.items():
        lowered = name.lower()
        is_uuid = type(converter).__name__ == "UUIDConverter"
        if "sop" in lowered or lowered in ("instance", "instance_uid", "instance_id"):
            values[name], about_study = instance.sop_instance_uid, True
        elif "series" in lowered:
            values[name], about_study = series.series_instance_uid, True
        elif "frame" in lowered:
            values[name] = "1"
        elif "worklist" in lowered:
            values[name] = next(iter(study.entries.values_list("worklist__public_id", flat=True)))
        elif "study" in lowered or lowered == "public_id":
            values[name] = study.public_id if is_uuid else study.study_instance_uid
            about_study = True
        else:
            return None
    return values if about_study else None


def test_a_guest_cannot_fetch_any_page_of_another_study(client, make_link, study, series):
    other = StudyFactory()
    add_to_worklist(other, study.entries.first().worklist)
    other_series = SeriesFactory(study=other)
    other_instance = InstanceFactory(series=other_series)
    open_link(client, make_link(include_priors=True))

    fetched = []
    for name, pattern in _patterns(get_resolver().url_patterns):
        if name.startswith("admin:"):
            continue
        kwargs = _kwargs_for(pattern, other, other_series, other_instance)
        if kwargs is None:
            continue
        try:
            url = reverse(name, kwargs=kwargs)
        except Exception:  # noqa: S112 - a parameter this walker cannot fill
            continue
        response = client.get(url)
        fetched.append(name)
        assert response.status_code in (302, 403, 404, 405), (name, url, response.status_code)
        if response.status_code == 302:
            assert "login" in response["Location"], (name, url)
        assert other.patient_name.encode() not in response.content, name
    # The walk found the study pages of the clinicians and of the guest.
    assert {"studies:detail", "guestlinks:viewer"} <= set(fetched)
    # ...and the same walk over the shared study reaches the guest viewer.
    assert client.get(viewer_url(study)).status_code == 200
    assert isinstance(study.public_id, UUID)


def test_another_study_in_a_live_session_gets_a_guest_404(client, make_link):
    other = StudyFactory()
    open_link(client, make_link())
    response = client.get(viewer_url(other))
    assert response.status_code == 404
    assert "This study was not shared with you" in response.content.decode()
    assert other.patient_name not in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]


# --- the image endpoints once the link is gone -------------------------------------------


def frame_url(series, frame=1):
    instance = series.instances.order_by("instance_number").first()
    kwargs = {
        "study": series.study.study_instance_uid,
        "series": series.series_instance_uid,
        "instance": instance.sop_instance_uid,
    }
    return reverse("dicomweb:frame_rendered", kwargs={**kwargs, "frame": frame})


def thumbnail_url(series):
    kwargs = {"study": series.study.study_instance_uid, "series": series.series_instance_uid}
    return reverse("dicomweb:series_thumbnail", kwargs=kwargs)


@pytest.mark.parametrize(
    "end",
    [
        lambda link, owner: services.guestlink_delete(actor=owner, link=link),
        lambda link, owner: GuestLink.objects.filter(pk=link.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        ),
        lambda link, owner: GuestLink.objects.filter(pk=link.pk).update(locked_at=timezone.now()),
    ],
    ids=["deleted", "expired", "locked"],
)
def test_images_tell_the_guest_whom_to_ask_once_the_link_is_gone(
    client, make_link, owner, study, end
):
    owner.title, owner.first_name, owner.last_name = "Dr", "Ada", "Lovelace"
    owner.email = "ada@hospital.example"
    owner.save()
    series = ct_series(study, slices=2)
    link = make_link()
    open_link(client, link)
    assert client.get(frame_url(series)).status_code == 200

    end(link, owner)

    # Every image request from then on (not only the first) gets the same small answer.
    for url in (frame_url(series), frame_url(series, 1), thumbnail_url(series), frame_url(series)):
        response = client.get(url)
        assert response.status_code == 410, url
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "error": "link_unavailable",
            "message": "This link is no longer available; "
            "ask Dr Ada Lovelace (St Elsewhere) for a new one.",
        }
        assert "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] == "no-referrer"
        assert b"ada@hospital.example" not in response.content
    assert client.get(viewer_url(study)).status_code == 404


def test_the_message_never_shows_an_email_used_as_a_username(client, make_link, owner, study):
    owner.username, owner.first_name, owner.last_name, owner.title = "ada@example.org", "", "", ""
    owner.save()
    series = ct_series(study, slices=1)
    link = make_link()
    open_link(client, link)
    services.guestlink_delete(actor=owner, link=link)
    response = client.get(frame_url(series))
    assert response.status_code == 410
    assert response.json()["message"] == (
        "This link is no longer available; ask St Elsewhere for a new one."
    )


def test_a_used_up_link_keeps_serving_the_sessions_it_granted(client, make_link, study):
    series = ct_series(study, slices=1)
    open_link(client, make_link(max_uses=1))
    assert client.get(frame_url(series)).status_code == 200
