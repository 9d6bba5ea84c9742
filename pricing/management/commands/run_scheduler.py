"""The periodic jobs of the embedded mode, where no Celery beat runs.

With Redis, Celery beat schedules these (config/celery.py). Without a broker, tasks run
in-process, so `make run` starts this small loop beside the server: it delivers and
retries webhooks and pauses finished experiments. (The server flushes its own
exposure buffer.)
"""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.tasks import alerts_daily, usage_flush, usage_rollup
from experiments.tasks import experiments_pause_finished
from pricing.tasks import webhooks_sweep
from tenants.tasks import login_records_prune, sessions_clear_expired

# Seconds between runs. Webhooks go faster than beat's minute: here the sweep also makes
# each delivery's first attempt.
SCHEDULE = [
    (5, webhooks_sweep),
    (60, experiments_pause_finished),
    (60, usage_flush),
    (3600, usage_rollup),
    (24 * 3600, alerts_daily),
    (24 * 3600, sessions_clear_expired),
    (24 * 3600, login_records_prune),
]


class Command(BaseCommand):
    help = "Run the periodic jobs in this process (the embedded mode's stand-in for Celery beat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with a Celery broker configured.")

    def handle(self, *args: object, force: bool, **options: object) -> None:
        if not settings.CELERY_TASK_ALWAYS_EAGER and not force:
            raise CommandError("A Celery broker is configured: Celery beat runs these jobs (make beat).")
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        due = [0.0] * len(SCHEDULE)
        self.stdout.write("Scheduler running: " + ", ".join(f"{job.name} every {s}s" for s, job in SCHEDULE))
        while not stopping:
            now = time.monotonic()
            for index, (every, job) in enumerate(SCHEDULE):
                if now >= due[index]:
                    due[index] = now + every
                    try:
                        job.apply()
                    except Exception as error:  # keep the loop alive; the job runs again later
                        self.stderr.write(f"{job.name} failed: {error}")
            time.sleep(1)
