import re
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from . import sharecodes

# The product's permissions, checked per worklist through django-guardian.
PRODUCT_PERMISSIONS: list[tuple[str, str | Any]] = [
    ("view_studies", "Studies: view and search studies list"),
    ("upload_studies", "Studies: upload studies"),
    ("share_study", "Studies: share study"),
    ("share_via_email", "Studies: share study via email"),
    ("share_via_code", "Studies: share study via share code"),
    ("share_with_groups", "Studies: share study with groups"),
    ("share_with_locations", "Studies: share study with locations"),
    ("share_with_organisations", "Studies: share study with organisations"),
    ("share_with_users", "Studies: share study with users"),
    ("send_to_dicom_node", "Studies: send to a DICOM node"),
    ("create_guest_links", "Study links: create guest links"),
    ("view_guest_links", "Study links: view guest links"),
    ("manage_upload_links", "Study links: create and edit guest study upload links"),
]
# A DICOM AE title (PS3.5 6.2, VR AE): 1 to 16 characters of the default repertoire without
# backslash or control characters; leading and trailing spaces are not significant, so none.
_AE_TITLE = re.compile(r"^[!-\[\]-~](?:[ -\[\]-~]{0,14}[!-\[\]-~])?$")


def validate_ae_title(value: str) -> None:
    if not _AE_TITLE.match(value or ""):
        raise ValidationError(
            "An AE title is 1 to 16 letters, digits or punctuation (no backslash), "
            "without leading or trailing spaces."
        )


def default_ae_title() -> str:
    """A new worklist's AE title, e.g. CS7KQ2M9XD (the share code alphabet: no look-alikes)."""
    return f"CS{sharecodes.generate()}"


PRODUCT_PERMISSION_CODENAMES = [codename for codename, _ in PRODUCT_PERMISSIONS]


def product_permissions() -> models.QuerySet[Permission]:
    return Permission.objects.filter(
        content_type__app_label="worklists",
        content_type__model="worklist",
        codename__in=PRODUCT_PERMISSION_CODENAMES,
    )


class Worklist(models.Model):
    """Where studies live and are seen."""

    class Kind(models.TextChoices):
        ORGANISATION = "organisation", "Organisation"
        LOCATION = "location", "Location"
        GROUP = "group", "Group"
        PERSONAL = "personal", "Personal"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        related_name="worklists",
        null=True,
        blank=True,
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200)
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_worklist",
        help_text="Set only for personal worklists.",
    )
    share_code = models.CharField(
        max_length=8, unique=True, default=sharecodes.generate, editable=False
    )
    ae_title = models.CharField(
        "DICOM AE title",
        max_length=16,
        unique=True,
        default=default_ae_title,
        validators=[validate_ae_title],
        help_text="The called AE title a PACS or modality sends to, to store studies here.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "kind", "name"]
        permissions = PRODUCT_PERMISSIONS
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="personal") & Q(owner__isnull=False))
                | (~Q(kind="personal") & Q(owner__isnull=True)),
                name="worklist_owner_iff_personal",
            ),
            models.UniqueConstraint(
                fields=["organisation"],
                condition=Q(kind="organisation"),
                name="one_organisation_worklist_per_organisation",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def share_code_display(self) -> str:
        return sharecodes.display(self.share_code)


class Role(models.Model):
    """A named set of the product's permissions, applied within one worklist by a membership."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    permissions = models.ManyToManyField(
        Permission,
        blank=True,
        limit_choices_to={
            "content_type__app_label": "worklists",
            "codename__in": PRODUCT_PERMISSION_CODENAMES,
        },
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    worklist = models.ForeignKey(Worklist, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "worklist"], name="one_membership_per_worklist")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.worklist} as {self.role}"


class RoleGroup(models.Model):
    """The Django group that carries one role's object permissions on one worklist.

    Guardian stores the permissions on the group; a membership puts its user in the group.
    """

    worklist = models.ForeignKey(Worklist, on_delete=models.CASCADE, related_name="role_groups")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="role_groups")
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="role_group")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["worklist", "role"], name="one_group_per_worklist_role")
        ]

    def __str__(self) -> str:
        return f"{self.role} on {self.worklist}"
