"""Drive simulated visitors through the public API, so a demo shows live results.

Each visitor asks for a quote (which assigns a variant and records the exposure), then
buys with a probability that falls as the quoted price rises above the control's:
``rate * (control price / quoted price) ** elasticity``. Purchases are sent as
conversion events with the quoted price as revenue.
"""

import json
import random
import secrets
import time
import urllib.error
import urllib.request
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser

from experiments.models import Experiment, Variant
from tenants import services as tenant_services
from tenants.models import Scope

# Conversions are sent in batches like a real integrator would.
EVENT_BATCH = 200
# A minute's worth of waits: the plan's window resets within that.
RATE_LIMIT_RETRIES = 65


class Command(BaseCommand):
    help = "Simulate visitors of a running experiment through the HTTP API (quote, then conversions)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--experiment", required=True, help="The experiment's key.")
        parser.add_argument("--visitors", type=int, default=1000)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where Pricelab serves.")
        parser.add_argument("--tenant", help="Tenant slug, if the key exists in several tenants.")
        parser.add_argument("--rate", type=float, default=0.05, help="Conversion rate at the control price.")
        parser.add_argument("--elasticity", type=float, default=1.2, help="How strongly price lowers it.")
        parser.add_argument("--seed", type=int, help="Random seed, for a repeatable run.")

    def handle(self, *args, experiment: str, visitors: int, base_url: str, tenant: str | None, rate: float,
               elasticity: float, seed: int | None, **options) -> None:  # fmt: skip
        found = Experiment.objects.unscoped().filter(key=experiment)
        if tenant:
            found = found.filter(tenant__slug=tenant)
        matches = list(found.select_related("tenant", "product")[:2])
        if len(matches) != 1:
            raise CommandError(f"{len(matches) or 'No'} experiments with key {experiment!r}; use --tenant.")
        target = matches[0]
        if target.status != Experiment.Status.RUNNING:
            raise CommandError(f"Experiment {experiment!r} is {target.status}; start it first.")
        control = Variant.objects.for_tenant(target.tenant_id).get(experiment=target, is_control=True)
        # A key for this run only, revoked at the end: the simulator is an integrator like any other.
        key, secret = tenant_services.api_key_create(
            tenant=target.tenant, name="Traffic simulator", scopes=[Scope.READ, Scope.WRITE]
        )
        rng = random.Random(seed)  # noqa: S311  (simulated shoppers, not secrets)
        # Visitor ids differ per run, unless a seed asks for a repeatable one.
        run = f"{rng.getrandbits(24):06x}" if seed is not None else secrets.token_hex(3)
        sent = bought = 0
        events: list[dict] = []
        try:
            for i in range(visitors):
                visitor = f"sim-{run}-{i}"
                quote = self._call(base_url, secret, "/api/v1/quote/", {
                    "visitor_id": visitor, "products": [target.product.sku]})  # fmt: skip
                if quote.get("quota_exceeded"):
                    raise CommandError(
                        f"After {i} visitors the workspace's monthly units are used up, so quotes "
                        "no longer include experiments. Give it a plan with more units "
                        " (admin: Billing accounts)."
                    )
                item = quote["items"][0]
                if item.get("price") is None:
                    raise CommandError(f"The quote failed: {item}")
                price = Decimal(item["price"])
                chance = rate * float(control.price / price) ** elasticity if price else rate
                if rng.random() < chance:
                    bought += 1
                    events.append({
                        "type": "conversion", "visitor_id": visitor, "experiment": target.key,
                        "revenue": item["price"], "idempotency_key": f"{visitor}-order",
                    })  # fmt: skip
                if len(events) >= EVENT_BATCH:
                    sent += self._call(base_url, secret, "/api/v1/events/", {"events": events})["accepted"]
                    events = []
            if events:
                sent += self._call(base_url, secret, "/api/v1/events/", {"events": events})["accepted"]
        finally:
            tenant_services.api_key_revoke(api_key=key)
        self.stdout.write(
            f"{visitors} visitors quoted, {bought} bought, {sent} conversions accepted. "
            f"Results: {base_url}/api/v1/experiments/{target.key}/results/"
        )

    def _call(self, base_url: str, secret: str, path: str, body: dict) -> dict:
        """POST as an integrator would, waiting out the plan's rate limit when told to."""
        for _ in range(RATE_LIMIT_RETRIES):
            try:
                return self._post(base_url, secret, path, body)
            except urllib.error.HTTPError as error:
                if error.code != 429 or "rate_limited" not in (text := error.read().decode()):
                    raise CommandError(f"{path} answered {error.code}: {text[:300]}") from None
                wait = int(error.headers.get("Retry-After", "1"))
                self.stderr.write(f"Rate limited by the plan: waiting {wait} s as Retry-After says.")
                time.sleep(wait)
            except urllib.error.URLError as error:
                raise CommandError(f"Cannot reach {base_url}: {error.reason}. Is Pricelab running?") from None
        raise CommandError(f"{path} stayed rate limited; the workspace's plan allows too few requests.")

    def _post(self, base_url: str, secret: str, path: str, body: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310  (the URL is the operator's own server)
            base_url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
