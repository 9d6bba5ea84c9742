from datetime import datetime

from celery import shared_task
from django.db.models import Q

from tenants.models import ApiKey


@shared_task(ignore_result=True)
def api_key_mark_used(*, tenant_id: int, api_key_id: int, used_at: str) -> None:
    """Record a key's last use; an older or repeated time changes nothing."""
    when = datetime.fromisoformat(used_at)
    ApiKey.objects.for_tenant(tenant_id).filter(pk=api_key_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=when)
    ).update(last_used_at=when)


@shared_task(ignore_result=True)
def sessions_clear_expired() -> None:
    """Delete expired sessions (what `manage.py clearsessions` does)."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.filter(expire_date__lt=timezone.now()).delete()


# How long the login records of django-axes are kept (sign-ins, and failures when those are
# logged): long enough to look into a suspicious sign-in reported weeks later, short enough
# that one row per sign-in does not grow without end. Lockouts themselves last minutes.
LOGIN_RECORDS_KEEP_DAYS = 90


@shared_task(ignore_result=True)
def login_records_prune() -> int:
    """Delete sign-in records older than LOGIN_RECORDS_KEEP_DAYS; the number deleted."""
    from axes.handlers.database import AxesDatabaseHandler

    handler = AxesDatabaseHandler()
    return handler.reset_logs(age_days=LOGIN_RECORDS_KEEP_DAYS) + handler.reset_failure_logs(
        age_days=LOGIN_RECORDS_KEEP_DAYS
    )


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def invitation_email(*, tenant_id: int, invitation_id: int, token: str) -> bool:
    """Email an invitation's link (once per token; retried if the mail server is unreachable).

    The raw token rides in the task's message because the database keeps only its hash;
    the broker is as private as the mail server it ends up on.
    """
    from tenants.services import invitation_email_send  # services enqueue this task

    return invitation_email_send(tenant_id=tenant_id, invitation_id=invitation_id, token=token)
