from celery import shared_task

from billing import metering


@shared_task(ignore_result=True)
def usage_flush() -> int:
    """Move metered units from the counters into the database (each count once)."""
    return metering.flush()
