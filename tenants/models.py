from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tenants.scoping import TenantOwnedModel


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> "User":
        # Emails are stored lower-cased; a person may type theirs in any case.
        return self.get(email__iexact=username)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in by email; reaches tenants through memberships."""

    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Staff of the operator: may use Django admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Tenant(models.Model):
    """A customer account: a shop, an app or a marketplace, with its own data."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    price_version = models.BigIntegerField(
        default=0, editable=False, help_text="Last version of the tenant's live price feed."
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text="Web origins (scheme://host[:port]) whose pages may call the API with a "
        "publishable key. Change through tenants.services.tenant_origins_set.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Scope(models.TextChoices):
    """What a caller may do. API keys carry scopes; people get them from their role."""

    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin (API keys, team, webhooks)"


ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}),
    Role.ADMIN: frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}),
    Role.MEMBER: frozenset({Scope.READ, Scope.WRITE}),
    Role.VIEWER: frozenset({Scope.READ}),
}


class Membership(TenantOwnedModel):
    """A user's place in a tenant, with a role."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id} as {self.role}"

    @property
    def scopes(self) -> frozenset[str]:
        return ROLE_SCOPES[self.role]


class KeyKind(models.TextChoices):
    """Secret keys live on the integrator's servers; publishable keys may sit in web pages."""

    SECRET = "secret", "Secret"
    PUBLISHABLE = "publishable", "Publishable"


class ApiKey(TenantOwnedModel):
    """A tenant's API key. Only its prefix and a SHA-256 hash of it are stored.

    A secret key carries scopes and is refused from browsers. A publishable key carries no
    scopes: it may only quote and send events, from the tenant's allowed origins.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=KeyKind.choices, default=KeyKind.SECRET, editable=False)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        indexes = [models.Index(fields=["tenant", "-created_at"], name="apikey_tenant_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Invitation(TenantOwnedModel):
    """An invitation to join a tenant with a role, sent by email. Only a SHA-256 hash of
    its token is stored, as for API keys: the link in the email is the only copy."""

    email = models.EmailField(max_length=254, help_text="Lower-cased, as user emails are.")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    # When the current token was last emailed; None while the email is owed (see the task).
    emailed_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        EXPIRED = "expired", "Expired"
        ACCEPTED = "accepted", "Accepted"
        CANCELLED = "cancelled", "Cancelled"

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="invitation_tenant_created")]
        constraints = [
            # One open invitation per address and tenant: a second one would race the first.
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=models.Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant_id} as {self.role}"

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return self.Status.ACCEPTED
        if self.cancelled_at is not None:
            return self.Status.CANCELLED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING

    @property
    def is_open(self) -> bool:
        """Neither accepted nor cancelled (it may have expired)."""
        return self.accepted_at is None and self.cancelled_at is None
