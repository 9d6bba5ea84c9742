from celery import shared_task

from billing import metering, services
from tenants.models import Tenant


@shared_task(ignore_result=True)
def usage_flush() -> int:
    """Move metered units from the counters into the database (each count once)."""
    return metering.flush()


@shared_task(ignore_result=True)
def usage_rollup() -> int:
    """Recount last month's and this month's usage per tenant (a recount: safe twice)."""
    return services.usage_rollup()


@shared_task(ignore_result=True)
def quota_alerts(tenant_id: int) -> list[str]:
    """Threshold emails for one tenant, sent when a request crossed 80 % or 100 %."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    return services.quota_alerts_send(tenant=tenant) if tenant is not None else []


@shared_task(ignore_result=True)
def alerts_daily() -> dict[str, int]:
    """Quota thresholds, failed payments and experiments with SRM (each email once)."""
    return services.alerts_daily()


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def welcome_email(tenant_id: int) -> bool:
    """The welcome email of a new signup (once; retried if the mail server is unreachable)."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    return services.welcome_send(tenant=tenant) if tenant is not None else False


# Celery autodiscovery imports billing.tasks: this brings the Stripe tasks along.
from billing.stripe_tasks import *  # noqa: E402, F403
