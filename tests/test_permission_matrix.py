# ruff: noqa: E501  (the matrix is a table: one line per URL and method, one column per caller)
"""Every URL pattern of the project, for every kind of caller, gets the answer written here.

The matrix below is the contract: one line per URL name and method, one expected answer per
kind of caller. The test walks Django's URL resolver, so a URL pattern added anywhere without
a line here fails with a message naming it, and a line for a pattern that no longer exists
fails too. Each line runs against a fresh world of real objects: users with real memberships,
a study with a real DICOM instance, guest and upload-link sessions opened through the real
gates, an invitation, API tokens.

Adding a line: copy the closest one and put the URL name (`app:name`, `app:name@POST` for a
POST), the answers in the order of CALLERS, and `kw=` for the kwargs that are not obvious:
`public_id=guestlink` names the object a kwarg stands for (the others are filled from their
own names, see `Fixtures.value`), `?worklist=worklist` adds a query parameter (form field of a
POST). An answer is a status code, or a redirect `"→app:name"` (LOGIN: the sign-in page).
A method without a line must answer 405 (or LOGIN) to everyone. The API-token callers answer
as anonymous unless `api=(member's token, outsider's token)` is given: tokens are read only
under API_TOKEN_PATHS. Each URL runs in a fresh world, the member last (a success may delete
what the line is about).

Admin pages are one rule: staff only. Every non-staff caller is sent to the admin sign-in page
(tested for every admin pattern), and a superuser gets the page (or the admin's own redirect).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from django.apps import apps
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import (
    Resolver404,
    URLPattern,
    URLResolver,
    get_resolver,
    resolve,
    reverse,
)
from django.urls.resolvers import RoutePattern
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import RateLimitBucket
from accounts.services import api_token_create
from dicomnet.models import RemoteNode
from guestlinks.services import guestlink_create
from sharing.invitations import make_token
from sharing.models import Invitation
from sharing.services import ShareTarget, studies_share
from studies.models import Study
from tests.factories import (
    OrganisationFactory,
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    ct_series,
    grant,
)
from uploadlinks.services import uploadlink_create
from worklists import services as worklist_services
from worklists.models import Role

# The kinds of caller, in the order of a line's answers.
CALLERS = (
    "anonymous",  # no session
    "outsider",  # signed in, another organisation, no membership of the worklist
    "bare",  # member of the worklist through a role with no permission at all
    "viewer",  # member with "view studies" only: without the permission to change anything
    "member",  # member with every permission of the worklist
    "guest_other",  # a guest session opened through the gate of a link to another study
    "guest_this",  # a guest session opened through the gate of a link to this study
    "uploader",  # an upload-link session opened through the upload gate of this worklist
)
TOKEN_CALLERS = ("token_member", "token_outsider")  # `Authorization: Bearer` API tokens

# Redirects: where to, by URL name.
LOGIN = "→accounts:login"
ADMIN_LOGIN = "→admin:login"
HOME = "→worklists:home"
WORKLIST = "→worklists:detail"
STUDY = "→studies:detail"
TOKENS = "→accounts:api_tokens"
RESET = "→accounts:password_reset_confirm"  # Django moves the token out of the URL first
INVITE = "→sharing:invitation_page"  # the same: the invitation's token leaves the URL
VIEWER = "→guestlinks:viewer"
UPLOAD = "→uploadlinks:upload"
MANAGE = "→uploadlinks:manage"
ICON = "→/static/favicon.svg"
SENDS = "→dicomnet:worklist_sends"
Answer = int | str


@dataclasses.dataclass(frozen=True)
class Line:
    answers: tuple[Answer, ...]  # in the order of CALLERS
    api: tuple[Answer, Answer] | None  # token_member, token_outsider; None: as anonymous
    kw: str  # "public_id=guestlink ?worklist=worklist": see Fixtures.url and Fixtures.fields


def line(*answers: Answer, api: tuple[Answer, Answer] | None = None, kw: str = "") -> Line:
    assert len(answers) == len(CALLERS), f"{len(answers)} answers for {len(CALLERS)} callers"
    return Line(answers, api, kw)


# fmt: off
MATRIX: dict[str, Line] = {
    # URL name (@POST: a POST)              anon   outsider bare   viewer member guest_o guest_t upload
    "favicon.ico":                          line(ICON,   ICON,   ICON,   ICON,   ICON,   ICON,   ICON,   ICON),
    "accounts:login":                       line(200,    HOME,   HOME,   HOME,   HOME,   200,    200,    200),
    "accounts:login@POST":                  line(200,    HOME,   HOME,   HOME,   HOME,   200,    200,    200),
    "accounts:logout@POST":                 line(LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN),
    "accounts:api_tokens":                  line(LOGIN,  200,    200,    200,    200,    LOGIN,  LOGIN,  LOGIN),
    "accounts:api_tokens@POST":             line(LOGIN,  200,    200,    200,    200,    LOGIN,  LOGIN,  LOGIN),
    "accounts:api_token_revoke":            line(LOGIN,  405,    405,    405,    405,    LOGIN,  LOGIN,  LOGIN, kw="public_id=api_token"),
    "accounts:api_token_revoke@POST":       line(LOGIN,  404,    404,    404,    TOKENS, LOGIN,  LOGIN,  LOGIN, kw="public_id=api_token"),
    "accounts:password_reset":              line(200,    200,    200,    200,    200,    200,    200,    200),
    "accounts:password_reset@POST":         line(200,    200,    200,    200,    200,    200,    200,    200),
    "accounts:password_reset_done":         line(200,    200,    200,    200,    200,    200,    200,    200),
    "accounts:password_reset_confirm":      line(RESET,  RESET,  RESET,  RESET,  RESET,  RESET,  RESET,  RESET, kw="token=reset_token"),
    "accounts:password_reset_confirm@POST": line(RESET,  RESET,  RESET,  RESET,  RESET,  RESET,  RESET,  RESET, kw="token=reset_token"),
    "accounts:password_reset_complete":     line(200,    200,    200,    200,    200,    200,    200,    200),
    "accounts:account":                     line(LOGIN,  200,    200,    200,    200,    LOGIN,  LOGIN,  LOGIN),
    "accounts:account@POST":                line(LOGIN,  400,    400,    400,    400,    LOGIN,  LOGIN,  LOGIN),
    "accounts:logout_everywhere@POST":      line(LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN,  LOGIN),
    "studies:detail":                       line(LOGIN,  404,    404,    200,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=study_page"),
    "studies:upload":                       line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN),
    "studies:upload@POST":                  line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN),
    "studies:viewer":                       line(LOGIN,  404,    404,    200,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=study_page"),
    "sharing:share":                        line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=worklist ?study=study_page"),
    "sharing:share@POST":                   line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN, kw="public_id=worklist ?study=study_page"),
    "sharing:share_code_lookup":            line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=worklist"),
    "sharing:invitation_revoke@POST":       line(LOGIN,  404,    404,    403,    STUDY,  LOGIN,  LOGIN,  LOGIN, kw="public_id=invitation"),
    "sharing:invitation_send_again@POST":   line(LOGIN,  404,    404,    403,    STUDY,  LOGIN,  LOGIN,  LOGIN, kw="public_id=invitation"),
    "sharing:invitation_page":              line(400,    400,    400,    400,    400,    400,    400,    400),
    "sharing:invitation_page@POST":         line(400,    400,    400,    400,    400,    400,    400,    400),
    "sharing:invitation":                   line(INVITE, INVITE, INVITE, INVITE, INVITE, INVITE, INVITE, INVITE, kw="token=invitation_token"),
    "dicomweb:series_thumbnail":            line(403,    404,    404,    200,    200,    404,    200,    403, api=(200, 404)),
    "dicomweb:instance_rendered":           line(403,    404,    404,    200,    200,    404,    200,    403, api=(200, 404)),
    "dicomweb:instance_thumbnail":          line(403,    404,    404,    200,    200,    404,    200,    403, api=(200, 404)),
    "dicomweb:instance_metadata":           line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:frame_rendered":              line(403,    404,    404,    200,    200,    404,    200,    403, api=(200, 404)),
    "dicomweb:frame_thumbnail":             line(403,    404,    404,    200,    200,    404,    200,    403, api=(200, 404)),
    "dicomweb:frame_values":                line(403,    404,    404,    200,    200,    404,    200,    403, api=(200, 404)),
    "dicomweb:worklist_studies":            line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_studies@POST":       line(401,    404,    404,    403,    415,    404,    404,    401, api=(415, 404)),
    "dicomweb:worklist_search_studies":     line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_search_studies@POST":line(401,    404,    404,    403,    415,    404,    404,    401, api=(415, 404)),
    "dicomweb:worklist_retrieve_study":     line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_study_metadata":     line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_search_series":      line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_retrieve_series":    line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_series_metadata":    line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_search_instances":   line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_retrieve_instance":  line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_instance_metadata":  line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_retrieve_frames":    line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:worklist_retrieve_bulkdata":  line(401,    404,    404,    200,    200,    404,    404,    401, api=(200, 404)),
    "dicomweb:search_studies":              line(401,    200,    200,    200,    200,    200,    200,    401, api=(200, 200)),
    "dicomweb:retrieve_study":              line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:study_metadata":              line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:search_series":               line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:retrieve_series":             line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:series_metadata":             line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:search_instances":            line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:retrieve_instance":           line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:retrieve_bulkdata":           line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomweb:retrieve_frames":             line(401,    404,    404,    200,    200,    404,    200,    401, api=(200, 404)),
    "dicomnet:study_send@POST":             line(LOGIN,  404,    404,    403,    STUDY,  LOGIN,  LOGIN,  LOGIN, kw="public_id=study_page ?worklist=worklist ?node=node"),
    "dicomnet:send_panel":                  line(LOGIN,  404,    404,    404,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=study_page ?worklist=worklist ?node=node"),
    "dicomnet:worklist_send":               line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="?study=study_id ?node=node"),
    "dicomnet:worklist_send@POST":          line(LOGIN,  404,    404,    403,    SENDS,  LOGIN,  LOGIN,  LOGIN, kw="?study=study_id ?node=node"),
    "dicomnet:worklist_sends":              line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN),
    "guestlinks:viewer":                    line(404,    404,    404,    404,    404,    404,    200,    404, kw="public_id=study_page"),
    "guestlinks:end@POST":                  line(200,    200,    200,    200,    200,    200,    200,    200),
    "guestlinks:create":                    line(LOGIN,  404,    404,    403,    STUDY,  LOGIN,  LOGIN,  LOGIN),
    "guestlinks:create@POST":               line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN),
    "guestlinks:delete@POST":               line(LOGIN,  404,    404,    403,    STUDY,  LOGIN,  LOGIN,  LOGIN, kw="public_id=guestlink"),
    "guestlinks:send_again@POST":           line(LOGIN,  404,    404,    403,    STUDY,  LOGIN,  LOGIN,  LOGIN, kw="public_id=guestlink"),
    "guestlinks:create_multi":              line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="?study=study_id"),
    "guestlinks:create_multi@POST":         line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN, kw="?study=study_id"),
    "guestlinks:edit":                      line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=guestlink"),
    "guestlinks:edit@POST":                 line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN, kw="public_id=guestlink"),
    "guestlinks:handout":                   line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=guestlink"),
    "guestlinks:ask@POST":                  line(200,    200,    200,    200,    200,    200,    200,    200, kw="token=guestlink_token"),
    "guestlinks:download_study@POST":       line(404,    404,    404,    404,    404,    404,    200,    404, kw="?study=study"),
    "guestlinks:download_image@POST":       line(404,    404,    404,    404,    404,    404,    200,    404, kw="?study=study ?series=series ?instance=instance"),
    "studies:access_history":               line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=study_page ?worklist=worklist"),
    "guestlinks:gate":                      line(200,    200,    200,    200,    200,    200,    200,    200, kw="token=guestlink_token"),
    "guestlinks:gate@POST":                 line(VIEWER, VIEWER, VIEWER, VIEWER, VIEWER, VIEWER, VIEWER, VIEWER, kw="token=guestlink_token"),
    "uploadlinks:upload":                   line(404,    404,    404,    404,    404,    404,    404,    200),
    "uploadlinks:start@POST":               line(404,    404,    404,    404,    404,    404,    404,    400),
    "uploadlinks:summary":                  line(404,    404,    404,    404,    404,    404,    404,    200, kw="public_id=upload"),
    "uploadlinks:chunk":                    line(404,    404,    404,    404,    404,    404,    404,    200, kw="public_id=upload"),
    "uploadlinks:chunk@POST":               line(404,    404,    404,    404,    404,    404,    404,    400, kw="public_id=upload"),
    "uploadlinks:finish@POST":              line(404,    404,    404,    404,    404,    404,    404,    400, kw="public_id=upload"),
    "uploadlinks:manage":                   line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN),
    "uploadlinks:manage@POST":              line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN),
    "uploadlinks:edit":                     line(LOGIN,  404,    404,    403,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=uploadlink"),
    "uploadlinks:edit@POST":                line(LOGIN,  404,    404,    403,    400,    LOGIN,  LOGIN,  LOGIN, kw="public_id=uploadlink"),
    "uploadlinks:delete@POST":              line(LOGIN,  404,    404,    403,    MANAGE, LOGIN,  LOGIN,  LOGIN, kw="public_id=uploadlink"),
    "uploadlinks:gate":                     line(200,    200,    200,    200,    200,    200,    200,    200, kw="token=uploadlink_token"),
    "uploadlinks:gate@POST":                line(UPLOAD, UPLOAD, UPLOAD, UPLOAD, UPLOAD, UPLOAD, UPLOAD, UPLOAD, kw="token=uploadlink_token"),
    "worklists:home":                       line(LOGIN,  WORKLIST, WORKLIST, WORKLIST, WORKLIST, LOGIN,  LOGIN,  LOGIN),
    "worklists:detail":                     line(LOGIN,  404,    404,    200,    200,    LOGIN,  LOGIN,  LOGIN, kw="public_id=worklist"),
}
# fmt: on


# --- the world every line runs in -------------------------------------------------------------


class Fixtures:
    """The objects a line's URL names and the clients of every kind of caller."""

    def __init__(self):  # type: ignore[no-untyped-def]  # untyped: factory objects are Any
        organisation = OrganisationFactory(name="St Elsewhere")
        self.worklist = WorklistFactory(organisation=organisation, name="Radiology")
        self.member = UserFactory(username="member", organisation=organisation)
        grant(self.member, self.worklist)
        self.viewer = UserFactory(username="viewer", organisation=organisation)
        grant(self.viewer, self.worklist, "view_studies")
        self.bare = UserFactory(username="bare", organisation=organisation)
        worklist_services.membership_grant(
            actor=None,
            user=self.bare,
            worklist=self.worklist,
            role=Role.objects.get_or_create(name="No permissions")[0],
        )
        self.outsider = UserFactory(
            username="outsider", organisation=OrganisationFactory(name="Elsewhere Clinic")
        )
        # Whose password-reset link is followed: never signed in (a sign-in ends such links).
        self.resetter = UserFactory(username="resetter", organisation=organisation)
        self.staff = UserFactory(
            username="admin", organisation=organisation, is_staff=True, is_superuser=True
        )

        self.study = StudyFactory(patient_id="MATRIX1")
        add_to_worklist(self.study, self.worklist)
        self.series = ct_series(self.study, slices=1, size=16)
        self.instance = self.series.instances.get()
        self.other_study = StudyFactory(patient_id="MATRIX2")
        add_to_worklist(self.other_study, self.worklist)
        ct_series(self.other_study, slices=1, size=16)

        self.guestlink = guestlink_create(
            actor=self.member, study=self.study, worklist=self.worklist, allow_download=True
        )
        self.other_guestlink = guestlink_create(
            actor=self.member, study=self.other_study, worklist=self.worklist
        )
        self.uploadlink = uploadlink_create(actor=self.member, worklist=self.worklist)
        studies_share(
            actor=self.member,
            studies=[self.study],
            source_worklist=self.worklist,
            targets=[ShareTarget(channel="email", key="new.doctor@clinic.example")],
        )
        self.invitation = Invitation.objects.get()
        self.api_token, self.member_token = api_token_create(user=self.member, name="matrix")
        _, self.outsider_token = api_token_create(user=self.outsider, name="matrix")
        # Port 9 on loopback: nothing listens, so a send fails at once (and is recorded).
        self.node = RemoteNode.objects.create(
            organisation=organisation, name="PACS", ae_title="PACS", host="127.0.0.1", port=9
        )

        # An upload the uploader has started (its summary, chunks and finish are its URLs).
        # The uploader is this one session: another opening of the link has its own uploads.
        self.uploader = Client()
        opened = self.uploader.post(self.uploadlink.get_absolute_url(), {})
        assert opened.status_code == 303, opened.status_code
        started = self.uploader.post(
            reverse("uploadlinks:start"),
            {"files": [{"name": "IMG0001", "size": 10}]},
            content_type="application/json",
        )
        assert started.status_code == 201, started.content
        self.upload_id = started.json()["files"][0]["url"].split("/")[3]

    def client(self, caller: str) -> Client:
        """A new client of this kind of caller (a new session, a new gate opening); the
        uploader is the one session that started `upload_id`."""
        client = Client()
        if caller in ("outsider", "bare", "viewer", "member"):
            client.force_login(getattr(self, caller))
        elif caller == "staff":
            client.force_login(self.staff)
        elif caller in ("guest_other", "guest_this"):
            link = self.guestlink if caller == "guest_this" else self.other_guestlink
            opened = client.post(link.get_absolute_url(), {})
            assert opened.status_code == 303, opened.status_code
        elif caller == "uploader":
            return self.uploader
        elif caller in TOKEN_CALLERS:
            token = self.member_token if caller == "token_member" else self.outsider_token
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        else:
            assert caller == "anonymous", caller
        return client

    def url(self, pattern: Pattern, recipe: str) -> str:
        """The pattern's route with its kwargs filled: those the line names (`public_id=upload`),
        the rest from their own names. Built from the route, not reversed from the name: two
        patterns may share a name (the last one is then reachable only by its own route)."""
        named = dict(item.split("=", 1) for item in recipe.split() if not item.startswith("?"))
        converters = pattern.pattern.pattern.converters
        path = re.sub(
            r"<(?:\w+:)?(\w+)>",
            lambda m: converters[m[1]].to_url(self.value(named.get(m[1], m[1]))),
            pattern.route,
        )
        return "/" + path

    def fields(self, recipe: str) -> dict[str, str]:
        """The line's `?name=what` items: the query of a GET, the form of a POST."""
        items = [item[1:].split("=", 1) for item in recipe.split() if item.startswith("?")]
        return {name: str(self.value(what)) for name, what in items}

    def value(self, what: str) -> Any:
        return {
            "study": self.study.study_instance_uid,
            "series": self.series.series_instance_uid,
            "instance": self.instance.sop_instance_uid,
            "frame": 1,
            "numbers": "1",
            "path": "7FE00010",  # the pixel data, as the metadata refers to it
            "index": 0,
            "share_code": self.worklist.share_code,
            "worklist": self.worklist.public_id,
            "worklist_id": self.worklist.public_id,
            "worklist_public_id": self.worklist.public_id,
            "study_id": self.study.public_id,
            "study_page": self.study.public_id,
            "guestlink": self.guestlink.public_id,
            "guestlink_token": self.guestlink.token,
            "uploadlink": self.uploadlink.public_id,
            "uploadlink_token": self.uploadlink.token,
            "upload": self.upload_id,
            "invitation": self.invitation.public_id,
            "invitation_token": make_token(self.invitation.public_id),
            "api_token": self.api_token.public_id,
            "uidb64": urlsafe_base64_encode(force_bytes(self.resetter.pk)),
            "reset_token": default_token_generator.make_token(self.resetter),
            "node": self.node.public_id,
        }[what]


# --- walking the resolver ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pattern:
    key: str  # the URL name with its namespaces (`#2` on a name's second pattern), or the route
    route: str
    pattern: URLPattern
    admin: bool


def walk(
    patterns: list[URLPattern | URLResolver], route: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from walk(entry.url_patterns, route + str(entry.pattern), inner)
        else:
            full = route + str(entry.pattern)
            yield (f"{namespace}{entry.name}" if entry.name else full), full, entry


def url_patterns() -> list[Pattern]:
    seen: dict[str, int] = {}
    found = []
    for key, route, entry in walk(get_resolver().url_patterns):
        seen[key] = seen.get(key, 0) + 1
        unique = key if seen[key] == 1 else f"{key}#{seen[key]}"
        found.append(Pattern(unique, route, entry, admin=route.startswith("admin/")))
    return found


PATTERNS = url_patterns()
APP_PATTERNS = [p for p in PATTERNS if not p.admin]
ADMIN_PATTERNS = [p for p in PATTERNS if p.admin]
METHODS = ("GET", "POST")


def lines_of(pattern: Pattern) -> dict[str, Line]:
    keys = {"GET": pattern.key, "POST": f"{pattern.key}@POST"}
    return {method: MATRIX[key] for method, key in keys.items() if key in MATRIX}


# --- checking an answer -----------------------------------------------------------------------


def answer_of(response: Any) -> Answer:
    if response.status_code in (301, 302, 303, 307, 308):
        target = urlparse(response["Location"]).path
        try:
            return f"→{resolve(target).view_name}"
        except Resolver404:  # a redirect off the views (a static file): where to
            return f"→{target}"
    return int(response.status_code)


def call(client: Client, method: str, url: str, fields: dict[str, str]) -> Answer:
    response = client.post(url, fields) if method == "POST" else client.get(url, fields)
    return answer_of(response)


@pytest.fixture
def world(settings, db, tmp_path) -> Fixtures:
    # Every guest opens its gate afresh for each check; the per-address limits are not the
    # question here (tests/guestlinks and tests/uploadlinks prove them).
    for name in (
        "GUESTLINK_RATE_LIMIT_PER_IP",
        "GUESTLINK_RATE_LIMIT_PER_LINK",
        "UPLOADLINK_RATE_LIMIT_PER_IP",
        "UPLOADLINK_RATE_LIMIT_PER_LINK",
        "UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP",
    ):
        setattr(settings, name, 100_000)
    settings.UPLOADLINK_STAGING_DIR = tmp_path / "staging"
    settings.SMS_BACKEND = "notifications.sms_backends.OutboxBackend"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms-outbox"
    return Fixtures()


def test_every_line_names_a_url_pattern():
    known = {p.key for p in APP_PATTERNS}
    stale = sorted(k for k in MATRIX if k.removesuffix("@POST") not in known)
    assert not stale, f"Matrix lines for URL patterns that do not exist: {stale}"


@pytest.mark.parametrize("pattern", APP_PATTERNS, ids=[p.key for p in APP_PATTERNS])
def test_url_pattern_answers_every_caller_as_the_matrix_says(
    world: Fixtures, pattern: Pattern
) -> None:
    lines = lines_of(pattern)
    assert lines, (
        f"URL pattern {pattern.key!r} ({pattern.route}) has no line in the permission matrix "
        f"of tests/test_permission_matrix.py: add `{pattern.key}` (GET) and/or "
        f"`{pattern.key}@POST`, with the answer each kind of caller gets."
    )
    callers = CALLERS + TOKEN_CALLERS
    # The member last: a success may change what the others would see (a deleted link).
    order = sorted(callers, key=lambda caller: caller == "member")
    kw = next(iter(lines.values())).kw
    url = world.url(pattern, kw)
    clients = {caller: world.client(caller) for caller in order}  # GETs first: they change nothing
    wrong = []
    for method in METHODS:
        expected = lines.get(method)
        got = {}
        for c in order:
            # The matrix asks who may, not how often: every caller here comes from one
            # address, so rate limits (tested on their own) start afresh for each.
            RateLimitBucket.objects.all().delete()
            got[c] = call(clients[c], method, url, world.fields(kw))
        actual = tuple(got[c] for c in callers)
        if expected is None:
            # A method without a line is not allowed, for anyone (or asks them to sign in).
            if all(answer in (405, LOGIN) for answer in actual):
                continue
            answers: tuple[Answer, ...] = (405,) * len(callers)
        else:
            answers = expected.answers + (expected.api or (expected.answers[0],) * 2)
        if actual != answers:
            wrong.append(
                f"{method} {url}\n"
                + "\n".join(
                    f"  {c:15} expected {e!s:24} got {a}{'' if e == a else '   <--'}"
                    for c, e, a in zip(callers, answers, actual, strict=True)
                )
            )
    assert not wrong, f"{pattern.key}:\n" + "\n".join(wrong)


# --- the admin: staff only --------------------------------------------------------------------

# Admin pages any visitor reaches by design: signing in, and signing out (a GET of which only
# redirects to the index, which then asks for staff).
ADMIN_PUBLIC = {"admin:login", "admin:logout"}


def admin_url(world: Fixtures, pattern: Pattern) -> str:
    """Real objects where the admin names one (the model's first row), else a plausible value."""
    values: dict[str, str] = {}
    for kwarg in pattern.pattern.pattern.converters:
        if kwarg == "object_id" and pattern.route.startswith("admin/r/"):  # view on site
            values[kwarg] = str(world.study.pk)
        elif kwarg == "object_id":
            app_model = pattern.route.split("/")[1:3]
            model = apps.get_model(app_model[0], app_model[1])
            first = model._default_manager.order_by("pk").first()
            values[kwarg] = str(first.pk if first else 1)
        elif kwarg == "content_type_id":
            values[kwarg] = str(ContentType.objects.get_for_model(Study).pk)
        elif kwarg == "app_label":
            values[kwarg] = "studies"
        elif kwarg == "id":
            values[kwarg] = str(world.member.pk)
        else:
            values[kwarg] = "1"
    if isinstance(pattern.pattern.pattern, RoutePattern):
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m[1]], pattern.route)
    return "/admin/studies/study/"  # the catch-all: any path the admin does not know


def test_every_admin_page_is_for_staff_only(world):
    """Every admin pattern: every kind of caller above is sent to the admin's sign-in page
    (also guests, uploaders and API tokens); a superuser is not."""
    callers = CALLERS + TOKEN_CALLERS
    clients = {caller: world.client(caller) for caller in callers if caller != "member"}
    staff = world.client("staff")
    wrong = []
    for pattern in ADMIN_PATTERNS:
        if pattern.key in ADMIN_PUBLIC:
            continue
        url = admin_url(world, pattern)
        for caller, client in clients.items():
            answer = answer_of(client.get(url))
            if answer != ADMIN_LOGIN:
                wrong.append(f"GET {url} as {caller}: {answer}, not {ADMIN_LOGIN}")
        answer = answer_of(staff.get(url))
        if answer == ADMIN_LOGIN or (isinstance(answer, int) and answer >= 500):
            wrong.append(f"GET {url} as staff: {answer}")
    # The member, once (they sign out on the admin's logout page, which is a POST).
    member = world.client("member")
    for pattern in ADMIN_PATTERNS:
        if pattern.key not in ADMIN_PUBLIC:
            url = admin_url(world, pattern)
            if (answer := answer_of(member.get(url))) != ADMIN_LOGIN:
                wrong.append(f"GET {url} as member: {answer}, not {ADMIN_LOGIN}")
    assert not wrong, "\n".join(wrong)


# --- what a 200 holds: the searches that answer everyone ----------------------------------------


def test_a_study_search_lists_only_what_the_caller_may_see(world):
    """QIDO-RS at the root answers 200 to every signed-in caller and every guest: the list is
    the permission. Each kind of caller finds exactly its own studies."""
    mine, other = world.study.study_instance_uid, world.other_study.study_instance_uid
    expected = {
        "outsider": set(),
        "bare": set(),
        "viewer": {mine, other},
        "member": {mine, other},
        "guest_other": {other},
        "guest_this": {mine},
        "token_member": {mine, other},
        "token_outsider": set(),
    }
    found = {}
    for caller in expected:
        response = world.client(caller).get(reverse("dicomweb:search_studies"))
        assert response.status_code in (200, 204), (caller, response.status_code)
        body = response.json() if response.status_code == 200 else []
        found[caller] = {study["0020000D"]["Value"][0] for study in body}
    assert found == expected
