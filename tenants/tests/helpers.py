"""Helpers shared by the web UI's page tests."""

from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP

from tenants.models import Tenant, User


def current_code(device) -> str:
    """What a staff member's authenticator app shows right now for ``device`` (a TOTPDevice)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def log_in(client: Client, user: User, tenant: Tenant) -> Client:
    """The client logged in as ``user``, working in ``tenant`` (as the workspace switcher sets it)."""
    client.force_login(user)
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()
    return client


def log_in_staff(client: Client, user: User) -> Client:
    """The client logged in to the staff admin as ``user``: password and second factor, as
    the admin's login form leaves a session (an authenticator is set up for them if needed)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants import services

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device, _ = services.staff_two_factor_enrol(user=user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def password_works(email: str, password: str) -> bool:
    """Whether logging in on the login page with these succeeds (in a browser of its own)."""
    response = Client().post(reverse("login"), {"username": email, "password": password})
    return response.status_code == 302
