"""Writes for tenants, accounts and API keys. Views, admin, commands and tasks call these."""

import functools
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actors import Actor, actor_for
from audit.services import audit_record
from pricing import live
from tenants import apikeys, cors
from tenants import origins as tenant_origins
from tenants.models import ApiKey, Invitation, KeyKind, Membership, Role, Scope, Tenant, User
from tenants.selectors import memberships_of

logger = logging.getLogger(__name__)

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
def tenant_create(*, name: str, owner: User, by: Actor | None = None) -> Tenant:
    """Create a tenant with its first owner (who creates it, unless ``by`` says otherwise)."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A tenant needs a name."})
    tenant = Tenant.objects.create(name=name, slug=_unique_slug(name))
    membership = Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    actor = actor_for(by=by, user=owner)
    audit_record(
        tenant=tenant, actor=actor, action="tenant.created", target=tenant, after={"name": tenant.name}
    )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="member.added",
        target=_member_target(membership),
        after={"role": Role.OWNER},
    )
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


def _status_audit(tenant: Tenant, status: str, action: str, by: Actor | None) -> None:
    before = Tenant.objects.filter(pk=tenant.pk).values_list("status", flat=True).first()
    if before != status:
        audit_record(
            tenant=tenant,
            actor=actor_for(by=by),
            action=action,
            target=tenant,
            before={"status": before},
            after={"status": status},
        )


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, by: Actor | None = None) -> Tenant:
    """Suspend a tenant: its keys and members are refused until it is reactivated."""
    _status_audit(tenant, Tenant.Status.SUSPENDED, "tenant.suspended", by)
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
    tenant.status = Tenant.Status.SUSPENDED
    _refresh_tenant_keys(tenant)
    transaction.on_commit(functools.partial(live.access_withdrawn, tenant.pk, reason="tenant_suspended"))
    return tenant


@transaction.atomic
def tenant_reactivate(*, tenant: Tenant, by: Actor | None = None) -> Tenant:
    """Lift a suspension."""
    _status_audit(tenant, Tenant.Status.ACTIVE, "tenant.reactivated", by)
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.ACTIVE)
    tenant.status = Tenant.Status.ACTIVE
    _refresh_tenant_keys(tenant)
    return tenant


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scopes: Iterable[str] = (),
    kind: str = KeyKind.SECRET,
    created_by: User | None = None,
    by: Actor | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key. Returns the key and its secret, which is never available again.

    A secret key needs scopes; a publishable key takes none (it may only quote and send
    events). ``by``: who issues it when that is not ``created_by`` (another key, staff).
    """
    if kind not in KeyKind.values:
        raise ValidationError({"kind": f"Choose {' or '.join(KeyKind.values)}; got {kind}."})
    scopes = sorted(set(scopes))
    if kind == KeyKind.PUBLISHABLE:
        if scopes:
            raise ValidationError(
                {"scopes": "Publishable keys take no scopes: they can only quote and send events."}
            )
    else:
        unknown = set(scopes) - set(Scope.values)
        if not scopes or unknown:
            raise ValidationError(
                {
                    "scopes": f"Choose one or more of {', '.join(Scope.values)}; "
                    f"got {', '.join(scopes) or 'none'}."
                }
            )
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A key needs a name."})
    for _ in range(_KEY_ATTEMPTS):
        prefix, raw = apikeys.generate(kind)
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    tenant=tenant,
                    name=name,
                    prefix=prefix,
                    key_hash=apikeys.hash_key(raw),
                    scopes=scopes,
                    kind=kind,
                    created_by=created_by,
                )
        except IntegrityError:
            continue  # prefix collision: draw again
        audit_record(
            tenant=tenant,
            actor=actor_for(by=by, user=created_by),
            action="apikey.created",
            target=key,
            after={"name": key.name, "prefix": key.prefix, "kind": key.kind, "scopes": key.scopes},
        )
        # A request may have cached this prefix as unknown a moment ago.
        transaction.on_commit(functools.partial(apikeys.refresh, [prefix]))
        return key, raw
    raise RuntimeError("Could not draw a free API key prefix")


@transaction.atomic
def tenant_origins_set(*, tenant: Tenant, origins: list[str], by: Actor | None = None) -> Tenant:
    """Replace the web origins whose pages may use the tenant's publishable keys.

    Each entry is normalised (tenants.origins); the keys' cached records, which carry the
    list, and the CORS list of all origins are rewritten after commit.
    """
    normalised = tenant_origins.origins_normalise(origins)
    before = list(Tenant.objects.filter(pk=tenant.pk).values_list("allowed_origins", flat=True).get() or [])
    Tenant.objects.filter(pk=tenant.pk).update(allowed_origins=normalised)
    if before != normalised:
        audit_record(
            tenant=tenant,
            actor=actor_for(by=by),
            action="tenant.origins_changed",
            target=tenant,
            before={"allowed_origins": before},
            after={"allowed_origins": normalised},
        )
    tenant.allowed_origins = normalised
    _refresh_tenant_keys(tenant)
    transaction.on_commit(cors.origins_forget)
    return tenant


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by: Actor | None = None) -> ApiKey:
    """Revoke a key at once. Revoking a revoked key changes nothing."""
    now = timezone.now()
    revoked = (
        ApiKey.objects.for_tenant(api_key.tenant_id)
        .filter(pk=api_key.pk, revoked_at=None)
        .update(revoked_at=now)
    )
    api_key.refresh_from_db(fields=["revoked_at"])
    if revoked:
        audit_record(
            tenant=api_key.tenant_id,
            actor=actor_for(by=by),
            action="apikey.revoked",
            target=api_key,
            before={"revoked_at": None},
            after={"revoked_at": now},
        )
    transaction.on_commit(functools.partial(apikeys.refresh, [api_key.prefix]))
    transaction.on_commit(
        functools.partial(
            live.access_withdrawn, api_key.tenant_id, api_key_id=api_key.pk, reason="api_key_revoked"
        )
    )
    return api_key


@transaction.atomic
def tenant_delete(*, tenant: Tenant, by: Actor | None = None) -> None:
    """Delete a tenant and everything it owns; its keys stop working at once. Its audit log
    stays, with this deletion as the last entry."""
    prefixes = list(ApiKey.objects.for_tenant(tenant).values_list("prefix", flat=True))
    audit_record(
        tenant=tenant,
        actor=actor_for(by=by),
        action="tenant.deleted",
        target=tenant,
        before={"name": tenant.name, "slug": tenant.slug, "status": tenant.status},
    )
    tenant.delete()
    transaction.on_commit(functools.partial(apikeys.refresh, prefixes))


# --- Team: invitations, roles, removal ------------------------------------------------
#
# Every team change first locks the tenant's row (FOR NO KEY UPDATE, which does not block
# rows that merely point at the tenant), so two changes to one team run one after the
# other: two owners demoting each other at the same moment cannot leave the tenant ownerless.

# An invitation link works for a week: long enough to survive a holiday, short enough that
# a forwarded or forgotten email soon stops being a way in.
INVITATION_TTL = timedelta(days=7)
# 32 random bytes: the link cannot be guessed, so its hash is all that needs storing.
INVITATION_TOKEN_BYTES = 32
# Invitation emails (new and resent) one tenant may send in a clock hour. Teams grow a few
# people at a time; the cap stops a compromised or careless account from mailing a list.
INVITATION_EMAILS_PER_HOUR = 20
_INVITATION_WINDOW_SECONDS = 3600


def _member_target(membership: Membership) -> tuple[str, int, str]:
    return ("membership", membership.pk, membership.user.email)


def _team_lock(tenant_id: int) -> None:
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant_id).first()


def _team_manager(*, tenant_id: int, user: User) -> Membership:
    """The acting person's membership, if it lets them manage the team."""
    membership = Membership.objects.for_tenant(tenant_id).filter(user=user).first()
    if membership is None or Scope.ADMIN not in membership.scopes:
        raise PermissionDenied("Only owners and admins can manage the team.")
    return membership


def _role_valid(role: str) -> str:
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of {', '.join(Role.values)}."})
    return role


def _owner_keeps(*, membership: Membership, by_themselves: bool = False) -> None:
    """Refuse to take the owner role from the tenant's last owner."""
    if membership.role != Role.OWNER:
        return
    others = (
        Membership.objects.for_tenant(membership.tenant_id).filter(role=Role.OWNER).exclude(pk=membership.pk)
    )
    if not others.exists():
        who = "You are" if by_themselves else f"{membership.user.get_full_name()} is"
        raise ValidationError(
            f"{who} the last owner of {membership.tenant.name}. Make someone else an owner first.",
            code="last_owner",
        )


def _invitation_emails_count(tenant_id: int) -> None:
    """Count one invitation email against the tenant's hourly cap, or refuse it."""
    window = int(time.time() // _INVITATION_WINDOW_SECONDS)
    key = f"invitation-emails:{tenant_id}:{window}"
    try:
        cache.add(key, 0, _INVITATION_WINDOW_SECONDS + 60)
        sent = cache.incr(key)
    except Exception:
        # The cache is down: inviting a colleague matters more than the cap. Loudly.
        logger.warning("invitation cap not applied: the cache is unreachable", exc_info=True)
        return
    if sent > INVITATION_EMAILS_PER_HOUR:
        minutes = max(1, round(((window + 1) * _INVITATION_WINDOW_SECONDS - time.time()) / 60))
        raise ValidationError(
            f"This workspace has sent {INVITATION_EMAILS_PER_HOUR} invitations this hour, the most we "
            f"send. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


def _invitation_token_new(invitation: Invitation, now: datetime) -> str:
    """Give the invitation a fresh token and a fresh week; email it after commit."""
    from tenants.tasks import invitation_email  # the task calls back into this module

    raw = secrets.token_urlsafe(INVITATION_TOKEN_BYTES)
    invitation.token_hash = apikeys.hash_key(raw)
    invitation.expires_at = now + INVITATION_TTL
    invitation.emailed_at = None
    # A lambda, not a partial: the invitation has its id only once it is saved.
    transaction.on_commit(
        lambda: invitation_email.delay(tenant_id=invitation.tenant_id, invitation_id=invitation.pk, token=raw)
    )
    return raw


@transaction.atomic
def invitation_create(*, tenant: Tenant, email: str, role: str, invited_by: User) -> tuple[Invitation, str]:
    """Invite a person by email with a role. Returns the invitation and its token, which
    is emailed and never stored."""
    _team_lock(tenant.pk)
    inviter = _team_manager(tenant_id=tenant.pk, user=invited_by)
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    _role_valid(role)
    if role == Role.OWNER and inviter.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can invite another owner."})
    if Membership.objects.for_tenant(tenant).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
    previous = (
        Invitation.objects.for_tenant(tenant).filter(email=email, accepted_at=None, cancelled_at=None).first()
    )
    if previous is not None:
        if previous.status == Invitation.Status.PENDING:
            raise ValidationError(
                {"email": f"{email} is already invited. Resend or cancel that invitation below."}
            )
        # It expired unanswered: this invitation replaces it.
        Invitation.objects.for_tenant(tenant).filter(pk=previous.pk).update(cancelled_at=timezone.now())
    _invitation_emails_count(tenant.pk)
    now = timezone.now()
    invitation = Invitation(tenant=tenant, email=email, role=role, invited_by=invited_by, created_at=now)
    raw = _invitation_token_new(invitation, now)
    invitation.save()
    audit_record(
        tenant=tenant,
        actor=Actor.person(invited_by),
        action="invitation.sent",
        target=invitation,
        after={"email": email, "role": role, "expires_at": invitation.expires_at},
    )
    return invitation, raw


def _invitation_open_locked(invitation: Invitation, actor: User | None) -> Invitation:
    """The invitation as it is now, if it is open and the actor may manage it (None: staff)."""
    _team_lock(invitation.tenant_id)
    manager = _team_manager(tenant_id=invitation.tenant_id, user=actor) if actor is not None else None
    fresh = Invitation.objects.for_tenant(invitation.tenant_id).get(pk=invitation.pk)
    if fresh.role == Role.OWNER and manager is not None and manager.role != Role.OWNER:
        raise PermissionDenied("Only an owner can manage an invitation to become an owner.")
    if fresh.accepted_at is not None:
        raise ValidationError(f"{fresh.email} has already accepted this invitation.")
    if fresh.cancelled_at is not None:
        raise ValidationError(f"The invitation to {fresh.email} was cancelled.")
    return fresh


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User) -> tuple[Invitation, str]:
    """Email an open invitation again, with a new link valid for another week; the old link stops working."""
    invitation = _invitation_open_locked(invitation, actor)
    _invitation_emails_count(invitation.tenant_id)
    expired = invitation.expires_at
    raw = _invitation_token_new(invitation, timezone.now())
    invitation.save(update_fields=["token_hash", "expires_at", "emailed_at"])
    audit_record(
        tenant=invitation.tenant_id,
        actor=Actor.person(actor),
        action="invitation.resent",
        target=invitation,
        before={"expires_at": expired},
        after={"expires_at": invitation.expires_at},
    )
    return invitation, raw


@transaction.atomic
def invitation_cancel(*, invitation: Invitation, actor: User | None, by: Actor | None = None) -> Invitation:
    """Withdraw an open invitation: its link stops working at once. ``actor=None``: staff, from
    admin (``by`` names them for the audit log)."""
    invitation = _invitation_open_locked(invitation, actor)
    invitation.cancelled_at = timezone.now()
    invitation.save(update_fields=["cancelled_at"])
    audit_record(
        tenant=invitation.tenant_id,
        actor=actor_for(by=by, user=actor),
        action="invitation.cancelled",
        target=invitation,
        before={"cancelled_at": None},
        after={"cancelled_at": invitation.cancelled_at},
    )
    return invitation


def invitation_email_send(*, tenant_id: int, invitation_id: int, token: str) -> bool:
    """Email an invitation's link, once per token. A token that a resend replaced, or an
    invitation that was answered meanwhile, sends nothing. Returns whether it was sent."""
    now = timezone.now()
    open_with_token = Invitation.objects.for_tenant(tenant_id).filter(
        pk=invitation_id, token_hash=apikeys.hash_key(token), accepted_at=None, cancelled_at=None
    )
    if not open_with_token.filter(emailed_at=None).update(emailed_at=now):
        return False
    invitation = (
        Invitation.objects.for_tenant(tenant_id).select_related("tenant", "invited_by").get(pk=invitation_id)
    )
    inviter = invitation.invited_by.get_full_name() if invitation.invited_by else "A teammate"
    context = {
        "tenant": invitation.tenant.name,
        "inviter": inviter,
        "email": invitation.email,
        "role": invitation.get_role_display(),
        "link": settings.SITE_URL + reverse("invitation", args=[token]),
        "expires_at": invitation.expires_at,
        "site_url": settings.SITE_URL,
    }
    subject = f"{inviter} invited you to {invitation.tenant.name} on Pricelab"
    message = EmailMultiAlternatives(
        subject,
        render_to_string("emails/invitation.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )
    message.attach_alternative(render_to_string("emails/invitation.html", context), "text/html")
    try:
        message.send()
    except Exception:
        open_with_token.filter(emailed_at=now).update(emailed_at=None)  # owed again: a retry sends it
        raise
    return True


_REFUSALS = {
    Invitation.Status.ACCEPTED: "This invitation has already been accepted.",
    Invitation.Status.CANCELLED: "This invitation was cancelled.",
    Invitation.Status.EXPIRED: "This invitation has expired.",
}


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join the invitation's tenant with its role, as the person it was sent to."""
    _team_lock(invitation.tenant_id)
    invitation = (
        Invitation.objects.for_tenant(invitation.tenant_id).select_related("tenant").get(pk=invitation.pk)
    )
    if invitation.status != Invitation.Status.PENDING:
        raise ValidationError(_REFUSALS[invitation.status], code=invitation.status)
    if user.email.lower() != invitation.email:
        raise ValidationError(
            f"This invitation is for {invitation.email}; you are logged in as {user.email}.",
            code="wrong_account",
        )
    # Already a member (added another way meanwhile): keep the role they have.
    membership, joined = Membership.objects.for_tenant(invitation.tenant).get_or_create(
        tenant=invitation.tenant, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        tenant=invitation.tenant,
        actor=Actor.person(user),
        action="invitation.accepted",
        target=invitation,
        before={"accepted_at": None},
        after={"accepted_at": invitation.accepted_at},
    )
    if joined:
        audit_record(
            tenant=invitation.tenant,
            actor=Actor.person(user),
            action="member.added",
            target=_member_target(membership),
            after={"role": membership.role},
        )
    return membership


@transaction.atomic
def invitation_accept_signup(*, invitation: Invitation, name: str, password: str) -> tuple[User, Membership]:
    """A new person's account, under the invited email, and their place in the tenant."""
    user = user_create(email=invitation.email, password=password, name=name.strip())
    return user, invitation_accept(invitation=invitation, user=user)


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, actor: User) -> Membership:
    """Give a member another role. Only owners grant or take the owner role; the last owner stays one."""
    _team_lock(membership.tenant_id)
    manager = _team_manager(tenant_id=membership.tenant_id, user=actor)
    _role_valid(role)
    membership = (
        Membership.objects.for_tenant(membership.tenant_id)
        .select_related("user", "tenant")
        .get(pk=membership.pk)
    )
    if Role.OWNER in (membership.role, role) and manager.role != Role.OWNER:
        raise PermissionDenied("Only an owner can change an owner's role or make someone an owner.")
    if membership.role == role:
        return membership
    _owner_keeps(membership=membership, by_themselves=membership.user_id == actor.pk)
    Membership.objects.for_tenant(membership.tenant_id).filter(pk=membership.pk).update(role=role)
    audit_record(
        tenant=membership.tenant_id,
        actor=Actor.person(actor),
        action="member.role_changed",
        target=_member_target(membership),
        before={"role": membership.role},
        after={"role": role},
    )
    membership.role = role
    return membership


def _membership_delete(membership: Membership, *, actor: Actor, action: str) -> None:
    audit_record(
        tenant=membership.tenant_id,
        actor=actor,
        action=action,
        target=_member_target(membership),
        before={"role": membership.role},
    )
    Membership.objects.for_tenant(membership.tenant_id).filter(pk=membership.pk).delete()
    # Pages check the membership on every request; open live price feeds are told here.
    transaction.on_commit(
        functools.partial(
            live.access_withdrawn,
            membership.tenant_id,
            user_id=membership.user_id,
            reason="membership_removed",
        )
    )


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    """Take someone out of the tenant. They lose access on their next request, and their live feeds close."""
    _team_lock(membership.tenant_id)
    manager = _team_manager(tenant_id=membership.tenant_id, user=actor)
    membership = (
        Membership.objects.for_tenant(membership.tenant_id)
        .select_related("user", "tenant")
        .get(pk=membership.pk)
    )
    if membership.role == Role.OWNER and manager.role != Role.OWNER:
        raise PermissionDenied("Only an owner can remove an owner.")
    _owner_keeps(membership=membership, by_themselves=membership.user_id == actor.pk)
    _membership_delete(membership, actor=Actor.person(actor), action="member.removed")


@transaction.atomic
def membership_leave(*, membership: Membership) -> None:
    """Leave a tenant of one's own accord (the last owner cannot)."""
    _team_lock(membership.tenant_id)
    membership = (
        Membership.objects.for_tenant(membership.tenant_id)
        .select_related("user", "tenant")
        .get(pk=membership.pk)
    )
    _owner_keeps(membership=membership, by_themselves=True)
    _membership_delete(membership, actor=Actor.person(membership.user), action="member.left")


# --- Passwords and staff two-factor ------------------------------------------------------


@transaction.atomic
def user_password_set(*, user: User, password: str, by: Actor | None = None) -> User:
    """Give a person a new password (changed, reset, or set by staff: ``by``).

    Every other session of theirs ends on its next request (Django checks the session's
    password hash); their open live price feeds are closed after commit, since those
    authenticated once and would otherwise outlive the old password; and failed-login
    lockouts on their email are lifted, so that a reset is the way out of one. The audit
    log (staff's, as an account belongs to no one workspace) records who did it and from where.
    """
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(tenant=None, actor=by or Actor.person(user), action="user.password_changed", target=user)
    _feeds_close_after_commit(user)
    axes_reset(username=user.email)
    return user


@transaction.atomic
def user_password_disable(*, user: User, by: Actor | None = None) -> User:
    """Turn a person's password sign-in off (staff locking an account): their sessions end
    on their next request, their live feeds after commit; a password reset turns it on again."""
    user.set_unusable_password()
    user.save(update_fields=["password"])
    audit_record(tenant=None, actor=actor_for(by=by), action="user.password_disabled", target=user)
    _feeds_close_after_commit(user)
    return user


def _feeds_close_after_commit(user: User) -> None:
    # The feeds authenticated once, at connect: they would outlive the old password.
    for tenant_id in memberships_of(user=user).values_list("tenant_id", flat=True):
        transaction.on_commit(
            functools.partial(live.access_withdrawn, tenant_id, user_id=user.pk, reason="password_changed")
        )


# Ten backup codes: enough to get through a lost phone and a new one, few enough to print.
BACKUP_CODES = 10
AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"


def _staff_only(user: User) -> None:
    if not user.is_staff:
        raise PermissionDenied("Two-factor here is for staff accounts.")


def _backup_codes_new(user: User) -> list[str]:
    """Replace a staff member's backup codes; the old ones stop working. Returns the new ones."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_CODES_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def staff_totp_start(*, user: User) -> TOTPDevice:
    """Begin a staff member's own two-factor setup: a new secret, not yet trusted until a
    first code from it confirms it. Refused if they already have a working one."""
    _staff_only(user)
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError(
            "Two-factor is already set up for this account. To replace a lost authenticator, "
            "ask an operator (manage.py staff_two_factor --replace).",
            code="already_enrolled",
        )
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()  # an abandoned earlier try
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


@transaction.atomic
def staff_totp_confirm(*, user: User, device_id: int, token: str) -> tuple[TOTPDevice, list[str]]:
    """Trust the authenticator being set up once it gives a right code. Returns it and a
    fresh set of backup codes, which are shown once."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, pk=device_id, confirmed=False).first()
    if device is None:
        raise ValidationError("This setup is no longer open. Start again.", code="expired")
    if not device.verify_token(token.strip()):
        raise ValidationError(
            "That code is not right. Check the time on your phone and enter the current code.",
            code="invalid_token",
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return device, _backup_codes_new(user)


@transaction.atomic
def staff_backup_codes_renew(*, user: User) -> list[str]:
    """New backup codes for a staff member with two-factor; the old ones stop working."""
    _staff_only(user)
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError("Set up an authenticator first.", code="not_enrolled")
    return _backup_codes_new(user)


@transaction.atomic
def staff_two_factor_enrol(*, user: User, replace: bool = False) -> tuple[TOTPDevice, list[str]]:
    """The operator's way in for a staff member (manage.py staff_two_factor): a trusted
    authenticator and backup codes at once. ``replace`` removes the devices they had, and
    with them every admin session those devices verified."""
    _staff_only(user)
    existing = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if existing and not replace:
        raise ValidationError(
            f"{user.email} already has two-factor set up; pass --replace to replace it.",
            code="already_enrolled",
        )
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=True)
    return device, _backup_codes_new(user)
