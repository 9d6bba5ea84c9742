"""Celery tasks for Stripe: thin wrappers around billing.subscriptions, each safe to run twice."""

from celery import shared_task

from billing import subscriptions

__all__ = ["grace_expire", "overage_report", "stripe_event_process", "stripe_events_sweep", "stripe_sync"]

# A failing event is retried with exponential backoff (about 1, 2, 4 ... 10 minutes,
# jittered) before it stays failed for the finance admin to retry.
EVENT_MAX_RETRIES = 8
EVENT_RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=EVENT_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=EVENT_MAX_RETRIES,
)
def stripe_event_process(event_pk: int) -> str:
    """Apply one stored Stripe event from Stripe's current objects (a processed event is skipped)."""
    return subscriptions.event_process(event_pk=event_pk).status


@shared_task(ignore_result=True)
def stripe_events_sweep() -> int:
    """Queue stored events still pending after a while: their first enqueue was lost."""
    return subscriptions.events_sweep()


@shared_task(ignore_result=True)
def stripe_sync() -> dict[str, int]:
    """Reconcile every tenant with Stripe, then report overage units (the 4-hourly job).

    The report runs after the sync so that it sees each tenant's plan as Stripe has it.
    """
    result = subscriptions.stripe_sync()
    sent = subscriptions.overage_report()
    return {
        "accounts": result.accounts,
        "repaired": result.repaired,
        "failed": result.failed,
        "meter_events": sent,
    }


@shared_task(ignore_result=True)
def overage_report() -> int:
    """Send Pro tenants' units beyond their plan to Stripe's meter (each unit once)."""
    return subscriptions.overage_report()


@shared_task(ignore_result=True)
def grace_expire() -> int:
    """Move past-due tenants whose grace period is over to Free."""
    return subscriptions.grace_expire()
