import uuid
import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q

from .registry import user_created


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


class Organisation(models.Model):
    """An account: users belong to one; it owns worklists."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    time_zone = models.CharField(
        max_length=64, default="Europe/London", validators=[validate_time_zone]
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    partners = models.ManyToManyField(
        "self",
        through="Partnership",
        symmetrical=False,
        related_name="allowed_by",
        blank=True,
        help_text="Organisations this one may share studies with.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Partnership(models.Model):
    """An administrator's permission for `from_organisation` to share with `to_organisation`."""

    from_organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="outgoing_partnerships"
    )
    to_organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="incoming_partnerships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["from_organisation", "to_organisation"], name="unique_partnership"
            ),
            models.CheckConstraint(
                condition=~Q(from_organisation=models.F("to_organisation")),
                name="partnership_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_organisation} → {self.to_organisation}"


class UserManager(DjangoUserManager["User"]):
    """create_user and create_superuser (createsuperuser among them) finish a new user as
    accounts.services.user_create does: the callbacks of accounts.registry run in the same
    transaction as the save (worklists gives the personal worklist)."""

    def create_user(  # type: ignore[override]
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> "User":
        with transaction.atomic(using=self._db):
            user = super().create_user(username, email, password, **extra)
            user_created(user)
        return user

    def create_superuser(  # type: ignore[override]
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> "User":
        with transaction.atomic(using=self._db):
            user = super().create_superuser(username, email, password, **extra)
            user_created(user)
        return user


class User(AbstractUser):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField("email address", blank=True, db_index=True)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
        help_text="Empty for people who registered from an invitation outside any organisation.",
    )
    title = models.CharField(max_length=50, blank=True, help_text="For example Dr or Prof.")

    objects: ClassVar[UserManager] = UserManager()

    class Meta(AbstractUser.Meta):
        ordering = ["last_name", "first_name", "username"]

    @property
    def display_name(self) -> str:
        full = " ".join(part for part in (self.title, self.first_name, self.last_name) if part)
        return full or self.username


class RateLimitBucket(models.Model):
    """A fixed-window hit counter shared by every web process (accounts.ratelimit): failed
    logins here, guest-link attempts in guestlinks. Incremented with one upsert."""

    key = models.CharField(max_length=100, unique=True)
    window_ends_at = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"


class ApiToken(models.Model):
    """A user's token for other software (DICOMweb clients), sent as `Authorization: Bearer`.

    Only an HMAC of the token is stored (keyed with SECRET_KEY), looked up by that digest; the
    plaintext is shown once, when it is created. The user's worklist permissions apply.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. OHIF viewer.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)  # shown, to tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserSession(AbstractBaseSession):
    """A browser session (Django's database session, accounts.sessions) with the signed-in
    user's id in a column of its own, so that all the sessions of one user can be ended at
    once (log out everywhere, a password change). Guests' and anonymous sessions have none."""

    # No database constraint: a session saved for a user deleted meanwhile must not fail its
    # INSERT (Django's store would retry a failed INSERT as a key collision, for ever); deleting
    # a user still deletes their sessions (the ORM's cascade).
    user = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_session"

    @classmethod
    def get_session_store_class(cls) -> Any:
        from .sessions import SessionStore

        return SessionStore
