"""The Celery app and its beat schedule. Tasks live in each app's tasks.py."""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init, worker_init

# Its signal handlers carry a request's id and tenant into the tasks it queues.
import config.observability  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pricelab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _refuse_insecure_start(**kwargs: object) -> None:
    from config.startup import refuse_insecure_start

    refuse_insecure_start()


app.conf.beat_schedule = {
    # Quotes buffer exposures; results should reflect them within seconds.
    "flush-exposures": {"task": "experiments.tasks.exposures_flush", "schedule": 2.0},
    # Metered usage from the Redis counters into the database.
    "flush-usage": {"task": "billing.tasks.usage_flush", "schedule": 60.0},
    # Monthly usage recounted from the daily rows (a recount: harmless if it runs twice).
    "rollup-usage": {"task": "billing.tasks.usage_rollup", "schedule": crontab(hour=0, minute=20)},
    # Quota thresholds, failed payments and experiments with SRM: each email goes once.
    "alerts-daily": {"task": "billing.tasks.alerts_daily", "schedule": crontab(hour=8, minute=0)},
    # Webhook deliveries whose retry is due, and any whose first enqueue was lost.
    "sweep-webhooks": {"task": "pricing.tasks.webhooks_sweep", "schedule": 60.0},
    # Large phases' results are served from a snapshot; keep it under a minute or two old.
    "refresh-large-results": {"task": "experiments.tasks.results_refresh_large", "schedule": 60.0},
    "pause-finished-experiments": {
        "task": "experiments.tasks.experiments_pause_finished",
        "schedule": crontab(minute="*"),
    },
    # Stripe: reconcile every customer's subscriptions and invoices, then report overage
    # units to the meter (webhooks do this at once; this repairs what they missed).
    "stripe-sync": {"task": "billing.stripe_tasks.stripe_sync", "schedule": crontab(minute=7, hour="*/4")},
    # Past-due tenants whose grace period is over move to Free.
    "stripe-grace-expire": {"task": "billing.stripe_tasks.grace_expire", "schedule": crontab(minute=37)},
    # Stored Stripe events whose first enqueue was lost (a broker outage at commit), and
    # events that failed on an unreachable Stripe whose next try is due (backoff).
    "stripe-events-sweep": {
        "task": "billing.stripe_tasks.stripe_events_sweep",
        "schedule": crontab(minute="*/10"),
    },
    # Sign-in records (django-axes) older than tenants.tasks.LOGIN_RECORDS_KEEP_DAYS.
    "prune-login-records": {
        "task": "tenants.tasks.login_records_prune",
        "schedule": crontab(hour=3, minute=47),
    },
    # Expired sessions pile up in the database otherwise.
    "clear-expired-sessions": {
        "task": "tenants.tasks.sessions_clear_expired",
        "schedule": crontab(hour=3, minute=17),
    },
}
