"""Emails to a tenant's owners, each sent at most once.

Every email has a kind and a ref (what it is about: a period, an invoice, a subscription),
and a ``Notice`` row with a unique (tenant, kind, ref) is written before it goes out. A
cron that runs twice, or a Stripe event that arrives twice, therefore sends nothing new.
If delivery fails the row is removed again so that the next run retries.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from billing.models import Notice
from tenants.models import Membership, Role, Tenant

logger = logging.getLogger(__name__)

SUBJECTS = {
    Notice.Kind.WELCOME: "Welcome to Pricelab",
    Notice.Kind.SUBSCRIPTION_CONFIRMED: "Your {plan} subscription is confirmed",
    Notice.Kind.QUOTA_80: "{tenant} has used 80 % of this month's units",
    Notice.Kind.QUOTA_100: "{tenant} has used all of this month's units",
    Notice.Kind.PAYMENT_FAILED: "Payment failed for {tenant}",
    Notice.Kind.CANCELLATION: "Your {plan} subscription is cancelled",
    Notice.Kind.SRM: "Check experiment {experiment}: its traffic split looks wrong",
}


def owner_emails(tenant: Tenant) -> list[str]:
    rows = (
        Membership.objects.for_tenant(tenant)
        .filter(role=Role.OWNER, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return list(rows)


def render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain text and HTML of one email."""
    context = {"site_url": settings.SITE_URL, **context}
    subject = SUBJECTS[kind].format(**{k: v for k, v in context.items() if isinstance(v, str | int)})
    text = render_to_string(f"emails/{kind}.txt", context)
    html = render_to_string(f"emails/{kind}.html", context)
    return subject, text, html


def notify_once(*, tenant: Tenant, kind: str, ref: str, context: dict[str, Any] | None = None) -> bool:
    """Email the tenant's owners about ``kind``/``ref`` unless that was done before.

    Returns whether an email went out now.
    """
    recipients = owner_emails(tenant)
    if not recipients:
        return False
    context = {"tenant": tenant.name, **(context or {})}
    subject, text, html = render(kind, context)
    try:
        with transaction.atomic():
            notice = Notice.objects.for_tenant(tenant).create(
                tenant=tenant, kind=kind, ref=ref, recipients=recipients
            )
    except IntegrityError:
        return False  # sent before
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception:
        Notice.objects.for_tenant(tenant).filter(pk=notice.pk).delete()
        logger.exception("could not send the %s email for tenant %s", kind, tenant.pk)
        raise
    return True
