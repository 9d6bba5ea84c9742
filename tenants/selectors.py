"""Reads about tenants and accounts that are more than one line."""

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.db.models.functions import Lower
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import apikeys
from tenants.models import ApiKey, Invitation, Membership, Role, Tenant, User


def memberships_of(*, user: User) -> QuerySet[Membership]:
    """Every membership of one person, across tenants: what the tenant switcher lists."""
    return (
        Membership.objects.unscoped()
        .filter(user=user)
        .select_related("tenant")
        .order_by("tenant__name", "tenant_id")
    )


def membership_active(*, user: User, tenant_id: int | None) -> Membership | None:
    """The membership a session works in: the chosen tenant's, or the first if none is chosen.

    A chosen tenant the user has left gives None rather than another tenant, so that a
    write never lands in a tenant the person did not pick.
    """
    memberships = memberships_of(user=user)
    if tenant_id is not None:
        return memberships.filter(tenant_id=tenant_id).first()
    return memberships.first()


def api_keys_of(*, tenant: Tenant) -> QuerySet[ApiKey]:
    """A tenant's keys, newest first, revoked ones included (they stay for the record)."""
    return ApiKey.objects.for_tenant(tenant).select_related("created_by").order_by("-created_at", "-id")


def team_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """A tenant's members with their accounts: owners first, then admins, members, viewers; by name."""
    rank = Case(
        *(When(role=role, then=Value(i)) for i, role in enumerate(Role.values)),
        default=Value(len(Role.values)),
        output_field=IntegerField(),
    )
    return (
        Membership.objects.for_tenant(tenant)
        .select_related("user")
        .annotate(role_rank=rank)
        .order_by("role_rank", Lower("user__name"), "user__email")
    )


def invitations_open(*, tenant: Tenant) -> QuerySet[Invitation]:
    """A tenant's invitations that are neither accepted nor cancelled (expired ones too), newest first."""
    return (
        Invitation.objects.for_tenant(tenant)
        .filter(accepted_at=None, cancelled_at=None)
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation a link's token opens, in any state, or None. Crosses tenants: the token is the key."""
    return (
        Invitation.objects.unscoped()
        .select_related("tenant", "invited_by")
        .filter(token_hash=apikeys.hash_key(token))
        .first()
    )


def two_factor_device_for(*, user: User, token: str, for_verify: bool = False) -> Device | None:
    """The one device of a staff member's that a code should be checked against: the
    authenticator app for digits, the backup codes otherwise. ``for_verify`` locks the row,
    so that two logins at once cannot both spend one code or dodge the throttle."""
    model = TOTPDevice if token.strip().isdigit() else StaticDevice
    devices = model.objects.filter(user=user, confirmed=True).order_by("pk")
    if for_verify:
        devices = devices.select_for_update()
    return devices.first()


def two_factor_status(*, user: User) -> dict[str, object]:
    """Whether a staff member has an authenticator, since when, and how many backup codes are left."""
    app = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    return {
        "enrolled": app is not None,
        "since": app.created_at if app else None,
        "backup_codes_left": StaticToken.objects.filter(device__user=user, device__confirmed=True).count(),
    }


def two_factor_pending(*, user: User, device_id: object) -> TOTPDevice | None:
    """The authenticator a staff member is setting up, while it is not yet confirmed."""
    if not isinstance(device_id, int):
        return None
    return TOTPDevice.objects.filter(user=user, pk=device_id, confirmed=False).first()
