"""What the dashboard shows, read in a fixed number of queries however big the workspace is.

The dashboard sits above the apps it summarises (billing, pricing, experiments): each
read is a selector of the app that owns the data; this module only puts them together.
"""

from dataclasses import dataclass

from django.db.models import Exists

from billing.selectors import UsageMeter, usage_meter
from experiments.models import Experiment
from experiments.selectors import RunningSummary, experiments_running, running_summaries
from pricing.models import PriceChange, Product
from pricing.selectors import price_changes_recent, products_on_sale
from tenants.models import ApiKey, Tenant

# The live board lists this many products; a bigger catalogue is one click away.
BOARD_PRODUCTS_SHOWN = 50
# Rows of the recent-changes list, also the length static/js/dashboard.js keeps it at.
RECENT_CHANGES_SHOWN = 10
# Running experiments summarised (each costs statistics, not queries).
RUNNING_SHOWN = 8
# How the page names each kind of feed entry; static/js/dashboard.js gets the same labels.
SOURCE_LABELS = dict(PriceChange.Source.choices)


@dataclass(frozen=True)
class Step:
    """One step of the first-run checklist."""

    key: str
    title: str
    done: bool


@dataclass(frozen=True)
class BoardRow:
    """A product on the live board, with the key of the experiment testing its price, if any."""

    product: Product
    testing: str | None


@dataclass(frozen=True)
class Dashboard:
    usage: UsageMeter
    products: list[BoardRow]
    more_products: bool
    running: list[RunningSummary]
    running_count: int
    changes: list[PriceChange]
    steps: list[Step]

    @property
    def first_run(self) -> bool:
        """Show the checklist until every step is done."""
        return not all(step.done for step in self.steps)

    @property
    def steps_done(self) -> int:
        return sum(step.done for step in self.steps)


def first_run_steps(*, tenant: Tenant) -> list[Step]:
    """Create a product, create an API key, start an experiment: which are done, in one query."""
    done = (
        Tenant.objects.filter(pk=tenant.pk)
        .annotate(
            product=Exists(Product.objects.for_tenant(tenant)),
            # A key revoked since still counts: the step was learning to make one.
            key=Exists(ApiKey.objects.for_tenant(tenant)),
            experiment=Exists(Experiment.objects.for_tenant(tenant).filter(started_at__isnull=False)),
        )
        .values("product", "key", "experiment")
        .get()
    )
    return [
        Step("product", "Add a product and its price", done["product"]),
        Step("key", "Create an API key for your storefront", done["key"]),
        Step("experiment", "Start a price experiment", done["experiment"]),
    ]


def dashboard_for(*, tenant: Tenant) -> Dashboard:
    """Everything the dashboard shows for one tenant."""
    products = products_on_sale(tenant_id=tenant.pk, limit=BOARD_PRODUCTS_SHOWN + 1)
    running = experiments_running(tenant_id=tenant.pk)
    testing = {e.product_id: e.key for e in running}
    return Dashboard(
        usage=usage_meter(tenant=tenant),
        products=[BoardRow(p, testing.get(p.pk)) for p in products[:BOARD_PRODUCTS_SHOWN]],
        more_products=len(products) > BOARD_PRODUCTS_SHOWN,
        running=running_summaries(running[:RUNNING_SHOWN], tenant_id=tenant.pk),
        running_count=len(running),
        changes=price_changes_recent(tenant_id=tenant.pk, limit=RECENT_CHANGES_SHOWN),
        steps=first_run_steps(tenant=tenant),
    )
