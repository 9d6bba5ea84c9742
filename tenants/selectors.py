"""Reads about tenants and accounts that are more than one line."""

from django.db.models import QuerySet

from tenants.models import ApiKey, Membership, Tenant, User


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
