"""API tokens: created and revoked by their user, shown once, stored hashed, sent as Bearer."""

import pytest
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke
from audit.models import AuditEvent

from .apidata import bearer

pytestmark = pytest.mark.django_db

STUDIES = "/dicomweb/studies"


def test_a_token_is_stored_only_as_a_digest(read_only):
    token, plaintext = api_token_create(user=read_only, name="OHIF")
    assert plaintext.startswith("cs_") and len(plaintext) > 40
    row = ApiToken.objects.get()
    assert plaintext not in (row.digest, row.prefix) and plaintext.startswith(row.prefix)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_CREATED).exists()


def test_a_bearer_token_signs_in_its_user_on_dicomweb_only(client, read_only):
    _, plaintext = api_token_create(user=read_only, name="OHIF")
    assert client.get(STUDIES, **bearer(plaintext)).status_code == 200
    # Not a login for the pages: the worklist home still asks for a session.
    home = client.get(reverse("worklists:home"), **bearer(plaintext))
    assert home.status_code == 302
    assert ApiToken.objects.get().last_used_at is not None


def test_wrong_or_revoked_tokens_get_401(client, read_only, member):
    token, plaintext = api_token_create(user=read_only, name="OHIF")
    assert client.get(STUDIES, **bearer(plaintext + "x")).status_code == 401
    assert client.get(STUDIES, **bearer("nonsense")).status_code == 401
    with pytest.raises(Exception, match="not your token"):
        api_token_revoke(user=member, token=token)
    api_token_revoke(user=read_only, token=token)
    response = client.get(STUDIES, **bearer(plaintext))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_a_deactivated_user_stops_working(client, read_only):
    _, plaintext = api_token_create(user=read_only, name="OHIF")
    read_only.is_active = False
    read_only.save()
    assert client.get(STUDIES, **bearer(plaintext)).status_code == 401


def test_the_account_page_creates_shows_once_and_revokes(login, read_only, member):
    client = login(read_only)
    url = reverse("accounts:api_tokens")
    assert client.get(url).status_code == 200
    assert client.post(url, {"name": ""}).status_code == 400
    response = client.post(url, {"name": "PACS bridge"}, follow=True)
    assert response.redirect_chain == [(url, 302)]  # a reload does not post again
    body = response.content.decode()
    token = ApiToken.objects.get()
    plaintext = response.context["created"]["plaintext"]
    assert plaintext in body and response["Cache-Control"] == "no-store"
    assert plaintext not in client.get(url).content.decode()  # shown once
    assert plaintext not in str(dict(client.session))  # and no longer kept
    assert client.get(STUDIES, **bearer(plaintext)).status_code == 200

    revoke = reverse("accounts:api_token_revoke", args=[token.public_id])
    assert client.get(revoke).status_code == 405
    # Someone else's token is not found.
    assert login(member).post(revoke).status_code == 404
    client = login(read_only)
    assert client.post(revoke).status_code == 302
    assert client.get(STUDIES, **bearer(plaintext)).status_code == 401


def test_the_account_page_needs_a_session(client):
    response = client.get(reverse("accounts:api_tokens"))
    assert response.status_code == 302
