"""Monthly unit quotas: when a tenant is over, and when its owners hear about it.

Over its units a Free or Starter tenant keeps getting quotes, at base prices with
experiments skipped (a pricing API must not break its customer's checkout), while event
ingestion is refused. A plan with overage (Pro) keeps running and pays per unit.
Owners get one email at 80 % and one at 100 % of the units, per month.
"""

import logging
import math
from datetime import UTC, datetime, timedelta

from kombu.exceptions import OperationalError

from billing.models import Notice
from billing.selectors import Limits
from config.logs import warn_throttled

logger = logging.getLogger(__name__)

THRESHOLDS = {80: Notice.Kind.QUOTA_80, 100: Notice.Kind.QUOTA_100}


def is_enforced(limits: Limits) -> bool:
    return limits.monthly_units is not None and not limits.overage


def is_exceeded(limits: Limits, total: int) -> bool:
    """Whether ``total`` units this month (the current request's included) are past the quota."""
    return is_enforced(limits) and total > limits.monthly_units


def is_used_up(limits: Limits, total: int) -> bool:
    """Whether nothing is left for another unit (refuse before taking more)."""
    return is_enforced(limits) and total >= limits.monthly_units


def threshold_units(limit: int, percent: int) -> int:
    return math.ceil(limit * percent / 100)


def thresholds_crossed(limits: Limits, before: int, after: int) -> list[int]:
    """The thresholds that the units from ``before`` to ``after`` went past."""
    if limits.monthly_units is None:
        return []
    return [p for p in THRESHOLDS if before < threshold_units(limits.monthly_units, p) <= after]


def after_metering(*, tenant_id: int, limits: Limits, units: int, total: int) -> None:
    """Send the threshold emails (in a task) when this request's units crossed a threshold."""
    if units > 0 and thresholds_crossed(limits, total - units, total):
        from billing.tasks import quota_alerts

        try:
            quota_alerts.delay(tenant_id=tenant_id)
        except OperationalError:
            # The broker is down; the daily alerts job sends what this one would have.
            warn_throttled(logger, "quota-alerts", "quota alert not queued: the broker is unreachable")


def period_end() -> datetime:
    """When this month's quota period ends (UTC)."""
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start + timedelta(days=32)).replace(day=1)


def exceeded_message(limits: Limits) -> str:
    return (
        f"This month's {limits.monthly_units:,} metered units are used up: base prices are served and "
        f"experiments are skipped until {period_end():%Y-%m-%d} (UTC) or an upgrade."
    )
