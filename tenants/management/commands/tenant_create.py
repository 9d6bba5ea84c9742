import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tenants import services
from tenants.models import User

# Long enough to be safe as a first password; the owner should change it.
GENERATED_PASSWORD_BYTES = 12


class Command(BaseCommand):
    help = "Create a tenant with an owner. Prints the tenant slug, and a password for a new user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="The tenant's display name.")
        parser.add_argument("--owner-email", required=True, help="The owner; created if new.")

    def handle(self, *args: object, name: str, owner_email: str, **options: object) -> None:
        password = None
        try:
            with transaction.atomic():
                owner = User.objects.filter(email__iexact=owner_email).first()
                if owner is None:
                    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
                    owner = services.user_create(email=owner_email, password=password)
                tenant = services.tenant_create(name=name, owner=owner)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"tenant: {tenant.slug}")
        self.stdout.write(f"owner: {owner.email}")
        if password is not None:
            self.stdout.write(f"password: {password}")
