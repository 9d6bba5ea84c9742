from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import services
from tenants.models import Scope, Tenant


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The secret is printed alone on the last line, once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument(
            "--scopes",
            default=f"{Scope.READ},{Scope.WRITE}",
            help=f"Comma-separated, from {', '.join(Scope.values)} (default: read,write).",
        )

    def handle(self, *args: object, tenant: str, name: str, scopes: str, **options: object) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        try:
            key, secret = services.api_key_create(tenant=found, name=name, scopes=wanted)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"key {key.prefix} for {found.slug}, scopes {','.join(key.scopes)}")
        self.stdout.write(secret)
