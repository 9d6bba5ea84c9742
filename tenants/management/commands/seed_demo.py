import secrets
from base64 import b32encode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from billing.services import account_plan_set
from experiments import services as experiment_services
from experiments.models import Experiment
from pricing import services as pricing_services
from pricing.models import Product
from tenants import services
from tenants.models import ApiKey, Role, Scope, Tenant, User

DEMO_TENANT = "Demo Shop"
DEMO_EMAIL = "demo@pricelab.local"
STAFF_EMAIL = "admin@pricelab.local"
DEMO_KEY_NAME = "Demo key"
DEMO_SKU = "tea-1kg"
DEMO_EXPERIMENT = "tea-price"
PASSWORD_BYTES = 9


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo tenant, its owner, a staff user and an API key, and print "
        "how to log in. Passwords and the key are new on every run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the app is served.")
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (never on a real deployment)."
        )

    def handle(self, *args: object, base_url: str, force: bool, **options: object) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with printed passwords; it runs only with DEBUG=true (or --force)."
            )
        base_url = base_url.rstrip("/")
        demo_password = secrets.token_urlsafe(PASSWORD_BYTES)
        staff_password = secrets.token_urlsafe(PASSWORD_BYTES)
        with transaction.atomic():
            demo = self._user(DEMO_EMAIL, demo_password, name="Demo Owner", staff=False)
            staff = self._user(STAFF_EMAIL, staff_password, name="Pricelab Staff", staff=True)
            # The admin asks staff for a second factor too: a fresh authenticator every run.
            authenticator, backup_codes = services.staff_two_factor_enrol(user=staff, replace=True)
            tenant = Tenant.objects.filter(
                memberships__user=demo, memberships__role=Role.OWNER, name=DEMO_TENANT
            ).first() or services.tenant_create(name=DEMO_TENANT, owner=demo)
            # Secrets cannot be shown twice, so the demo key is replaced on every run.
            for old in ApiKey.objects.for_tenant(tenant).filter(name=DEMO_KEY_NAME, revoked_at=None):
                services.api_key_revoke(api_key=old)
            key, secret = services.api_key_create(
                tenant=tenant, name=DEMO_KEY_NAME, scopes=Scope.values, created_by=demo
            )
            # The demo simulates thousands of visitors: no plan limits get in its way.
            account_plan_set(tenant=tenant, plan_code="enterprise")
            experiment = self._demo_experiment(tenant)
        lines = [
            "",
            f"Pricelab demo is ready: tenant {tenant.name!r} ({tenant.slug}).",
            f"  Web UI    {base_url}/          log in as {DEMO_EMAIL} / {demo_password}",
            f"  Admin     {base_url}/admin/    staff {STAFF_EMAIL} / {staff_password}",
            f"            and a code: authenticator key {b32encode(authenticator.bin_key).decode()}, "
            f"or a backup code: {' '.join(backup_codes[:3])}",
            f"  API docs  {base_url}/api/docs/",
            f"  API key   {key.prefix}… (scopes {', '.join(key.scopes)}); try:",
            f'    curl -H "Authorization: Bearer {secret}" {base_url}/api/v1/tenant/',
            f"  Demo test  {experiment.key!r} on {DEMO_SKU} is {experiment.status}; with the app running:",
            f"    DEBUG=true .venv/bin/python manage.py simulate_traffic --experiment {experiment.key} "
            f"--visitors 2000 --base-url {base_url}",
            f'    curl -H "Authorization: Bearer {secret}" '
            f"{base_url}/api/v1/experiments/{experiment.key}/results/",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _demo_experiment(self, tenant: Tenant) -> Experiment:
        product = Product.objects.for_tenant(tenant).filter(sku=DEMO_SKU).first()
        if product is None:
            product = pricing_services.product_create(
                tenant=tenant, sku=DEMO_SKU, name="Darjeeling tea, 1 kg", currency="EUR", base_price="24.90"
            )
        experiment = Experiment.objects.for_tenant(tenant).filter(key=DEMO_EXPERIMENT).first()
        if experiment is None:
            experiment = experiment_services.experiment_create(
                tenant=tenant,
                product=product,
                key=DEMO_EXPERIMENT,
                name="Tea at 27.90?",
                hypothesis="Buyers of premium tea barely notice a 3 euro rise.",
                variants=[
                    {
                        "key": "control",
                        "name": "Today's price",
                        "price": "24.90",
                        "weight": "0.5",
                        "is_control": True,
                    },
                    {"key": "higher", "name": "Three euros more", "price": "27.90", "weight": "0.5"},
                ],
                target_sample_size=5000,
            )
        if experiment.status == Experiment.Status.DRAFT:
            experiment = experiment_services.experiment_start(experiment=experiment)
        return experiment

    def _user(self, email: str, password: str, *, name: str, staff: bool) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=password, name=name)
        user.set_password(password)
        user.is_staff = user.is_superuser = staff
        user.save()
        return user
