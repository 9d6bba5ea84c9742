from celery import shared_task

from pricing import webhooks


@shared_task(ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    """Try one webhook delivery if it is due (safe to run twice: it is claimed first)."""
    webhooks.deliver(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def webhooks_sweep() -> int:
    """Enqueue every delivery whose retry is due, each as its own task."""
    due = webhooks.due_deliveries()
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)
