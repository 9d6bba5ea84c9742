"""Writes for tenants, accounts and API keys. Views, admin, commands and tasks call these."""

import functools
import secrets
from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from pricing import live
from tenants import apikeys
from tenants.models import ApiKey, Membership, Role, Scope, Tenant, User

_SLUG_BASE_CHARS = 40  # leaves room for "-" and a random suffix inside the 50-char slug
_SLUG_ATTEMPTS = 10
_KEY_ATTEMPTS = 5


def _unique_slug(name: str) -> str:
    base = slugify(name)[:_SLUG_BASE_CHARS].strip("-") or "tenant"
    if not Tenant.objects.filter(slug=base).exists():
        return base
    for _ in range(_SLUG_ATTEMPTS):
        candidate = f"{base}-{secrets.token_hex(3)}"
        if not Tenant.objects.filter(slug=candidate).exists():
            return candidate
    raise RuntimeError("Could not find a free slug")  # 16M suffixes: not reached in practice


def user_create(*, email: str, password: str | None, name: str = "") -> User:
    """Create a person's account. ``password=None`` makes an account that cannot log in yet."""
    email = User.objects.normalize_email(email).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"{email!r} is not a valid email address."}) from None
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "An account with this email already exists."})
    user = User(email=email, name=name)
    if password is not None:
        validate_password(password, user)
    return User.objects.create_user(email=email, password=password, name=name)


@transaction.atomic
def tenant_create(*, name: str, owner: User) -> Tenant:
    """Create a tenant with its first owner."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A tenant needs a name."})
    tenant = Tenant.objects.create(name=name, slug=_unique_slug(name))
    Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    from billing.services import account_ensure  # billing builds on tenants

    account_ensure(tenant=tenant)
    return tenant


@transaction.atomic
def signup(*, email: str, password: str, name: str, tenant_name: str) -> tuple[User, Tenant]:
    """A new customer: their account and their tenant, of which they are the owner."""
    from billing.tasks import welcome_email  # billing builds on tenants

    user = user_create(email=email, password=password, name=name)
    tenant = tenant_create(name=tenant_name, owner=user)
    transaction.on_commit(functools.partial(welcome_email.delay, tenant_id=tenant.pk))
    return user, tenant


def _refresh_tenant_keys(tenant: Tenant) -> None:
    # The prefixes are listed after commit, so a key created meanwhile is included.
    transaction.on_commit(functools.partial(apikeys.refresh_tenant, tenant.pk))


@transaction.atomic
def tenant_suspend(*, tenant: Tenant) -> Tenant:
    """Suspend a tenant: its keys and members are refused until it is reactivated."""
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
    tenant.status = Tenant.Status.SUSPENDED
    _refresh_tenant_keys(tenant)
    transaction.on_commit(functools.partial(live.access_withdrawn, tenant.pk, reason="tenant_suspended"))
    return tenant


@transaction.atomic
def tenant_reactivate(*, tenant: Tenant) -> Tenant:
    """Lift a suspension."""
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.ACTIVE)
    tenant.status = Tenant.Status.ACTIVE
    _refresh_tenant_keys(tenant)
    return tenant


def api_key_create(
    *, tenant: Tenant, name: str, scopes: Iterable[str], created_by: User | None = None
) -> tuple[ApiKey, str]:
    """Issue a key. Returns the key and its secret, which is never available again."""
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(Scope.values)
    if not scopes or unknown:
        raise ValidationError(
            {"scopes": f"Choose one or more of {', '.join(Scope.values)}; got {', '.join(scopes) or 'none'}."}
        )
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A key needs a name."})
    for _ in range(_KEY_ATTEMPTS):
        prefix, raw = apikeys.generate()
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    tenant=tenant,
                    name=name,
                    prefix=prefix,
                    key_hash=apikeys.hash_key(raw),
                    scopes=scopes,
                    created_by=created_by,
                )
        except IntegrityError:
            continue  # prefix collision: draw again
        # A request may have cached this prefix as unknown a moment ago.
        transaction.on_commit(functools.partial(apikeys.refresh, [prefix]))
        return key, raw
    raise RuntimeError("Could not draw a free API key prefix")


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once. Revoking a revoked key changes nothing."""
    now = timezone.now()
    ApiKey.objects.for_tenant(api_key.tenant_id).filter(pk=api_key.pk, revoked_at=None).update(revoked_at=now)
    api_key.refresh_from_db(fields=["revoked_at"])
    transaction.on_commit(functools.partial(apikeys.refresh, [api_key.prefix]))
    transaction.on_commit(
        functools.partial(
            live.access_withdrawn, api_key.tenant_id, api_key_id=api_key.pk, reason="api_key_revoked"
        )
    )
    return api_key


@transaction.atomic
def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant and everything it owns; its keys stop working at once."""
    prefixes = list(ApiKey.objects.for_tenant(tenant).values_list("prefix", flat=True))
    tenant.delete()
    transaction.on_commit(functools.partial(apikeys.refresh, prefixes))
