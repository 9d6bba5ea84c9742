import io
from base64 import b32encode

import segno
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import services
from tenants.models import User


class Command(BaseCommand):
    help = (
        "Set up two-factor for a staff account: prints, once, the otpauth:// URI to add to an "
        "authenticator app (and its key), and backup codes. The staff admin needs one of them "
        "besides the password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The staff member's email (createsuperuser makes one).")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace the authenticator and backup codes they have (a lost phone); "
            "admin sessions verified with the old ones end.",
        )
        parser.add_argument("--qr", action="store_true", help="Also draw the QR code in the terminal.")

    def handle(self, *args: object, email: str, replace: bool, qr: bool, **options: object) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account with email {email!r}.")
        try:
            device, codes = services.staff_two_factor_enrol(user=user, replace=replace)
        except PermissionDenied:
            raise CommandError(f"{user.email} is not staff; two-factor is for the staff admin.") from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"two-factor for {user.email}: add this to an authenticator app, once")
        if qr:
            drawing = io.StringIO()
            segno.make(device.config_url, error="m").terminal(out=drawing, compact=True)
            self.stdout.write(drawing.getvalue())
        self.stdout.write(f"key (to type in by hand): {b32encode(device.bin_key).decode()}")
        self.stdout.write(f"backup codes (each works once): {' '.join(codes)}")
        self.stdout.write(device.config_url)
