from celery import shared_task
from celery.signals import worker_shutting_down
from django.db.models import Count, F, Q
from django.utils import timezone

from experiments import exposures, services
from experiments.models import Experiment, Exposure, ResultsSnapshot, Variant


@shared_task(ignore_result=True)
def exposures_flush() -> int:
    """Move buffered exposures into the database (safe to run twice: inserts are idempotent)."""
    return exposures.flush()


@worker_shutting_down.connect
def _flush_on_shutdown(**kwargs) -> None:
    exposures.flush()


def _reached_target(experiment: Experiment) -> bool:
    variants = (
        Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, active=True).count()
    )
    counts = list(
        Exposure.objects.for_tenant(experiment.tenant_id)
        .filter(experiment=experiment, phase=experiment.phase)
        .values("variant_id")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    return len(counts) == variants and min(counts) >= experiment.target_sample_size


@shared_task(ignore_result=True)
def results_refresh_large() -> int:
    """Recompute the results of running experiments' large phases, which the API serves
    from their snapshot (safe to run twice: a recount)."""
    exposures.flush()
    snapshots = (
        ResultsSnapshot.objects.unscoped()  # every tenant's: a cross-tenant job
        .filter(experiment__status=Experiment.Status.RUNNING, phase=F("experiment__phase"))
        .select_related("experiment", "experiment__product")
    )
    refreshed = 0
    for snapshot in snapshots:
        services.results_refresh(experiment=snapshot.experiment, with_series=True)
        refreshed += 1
    return refreshed


@shared_task(ignore_result=True)
def experiments_pause_finished() -> int:
    """Pause running experiments past their end date, or whose every variant reached the
    target sample size: a person then reads the results and picks the winner."""
    exposures.flush()  # count what has been seen, not what was last flushed
    now = timezone.now()
    due = Experiment.objects.unscoped().filter(
        Q(end_at__lte=now) | Q(target_sample_size__isnull=False), status=Experiment.Status.RUNNING
    )
    paused = 0
    for experiment in due:
        ended = experiment.end_at is not None and experiment.end_at <= now
        if ended or _reached_target(experiment):
            services.experiment_pause(experiment=experiment)
            paused += 1
    return paused
