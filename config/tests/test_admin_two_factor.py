"""The staff admin asks for a second factor: a password alone never opens it."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from tenants import services
from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tenants.tests.helpers import current_code, log_in_staff

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff():
    user = UserFactory(email="sam@pricelab.example", is_staff=True, is_superuser=True)
    device, codes = services.staff_two_factor_enrol(user=user)
    user.device, user.backup_codes = device, codes
    return user


def admin_login(client: Client, email: str, code: str = "", password: str = PASSWORD):
    return client.post(ADMIN_LOGIN, {"username": email, "password": password, "otp_token": code})


def test_the_default_admin_site_is_the_two_factor_one_with_every_model_on_it():
    assert isinstance(admin.site, OTPAdminSite)
    registered = {model._meta.label for model in admin.site._registry}
    assert {"tenants.Tenant", "billing.Plan", "pricing.Product", "experiments.Experiment"} <= registered
    # Staff can see lockouts and devices, but never another person's secret.
    assert {"axes.AccessAttempt", "otp_totp.TOTPDevice", "otp_static.StaticDevice"} <= registered


def test_a_password_alone_does_not_open_the_admin(client, staff):
    # Logged in on the customer login page, with the right password: not enough for the admin.
    assert client.post(reverse("login"), {"username": staff.email, "password": PASSWORD}).status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    page = client.get(response["Location"]).text
    assert 'name="otp_token"' in page and "Authentication code" in page
    # And the admin's own form refuses the password without a code.
    refused = admin_login(Client(), staff.email)
    assert refused.status_code == 200
    assert "Enter the 6-digit code from your authenticator app, or a backup code." in refused.text


def test_the_password_and_a_current_code_open_the_admin(client, staff):
    response = admin_login(client, staff.email, current_code(staff.device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/tenants/tenant/").status_code == 200


def test_a_wrong_code_is_refused(client, staff):
    wrong = f"{(int(current_code(staff.device)) + 1) % 1_000_000:06d}"
    response = admin_login(client, staff.email, wrong)
    assert response.status_code == 200 and "That code is not right" in response.text
    assert client.get("/admin/").status_code == 302


def test_a_code_works_once_even_from_another_browser(staff):
    code = current_code(staff.device)
    assert admin_login(Client(), staff.email, code).status_code == 302
    replay = Client()
    response = admin_login(replay, staff.email, code)
    assert response.status_code == 200 and "That code is not right" in response.text
    assert replay.get("/admin/").status_code == 302


def test_a_code_with_the_wrong_password_is_refused(client, staff):
    response = admin_login(client, staff.email, current_code(staff.device), password="not-the-password")
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_a_backup_code_opens_the_admin_once(staff):
    assert admin_login(Client(), staff.email, staff.backup_codes[1].upper()).status_code == 302
    code = staff.backup_codes[0]
    assert admin_login(Client(), staff.email, code).status_code == 302
    assert admin_login(Client(), staff.email, code).status_code == 200


def test_guessing_codes_is_slowed_down_after_a_wrong_one(client, staff):
    admin_login(client, staff.email, "000000" if current_code(staff.device) != "000000" else "111111")
    # Even the right code waits out the throttle (1 s, doubling with every further miss).
    response = admin_login(client, staff.email, current_code(staff.device))
    assert response.status_code == 200 and "Verification temporarily disabled" in response.text


def test_another_staff_members_code_does_not_open_my_account(staff):
    other = UserFactory(is_staff=True)
    device, _ = services.staff_two_factor_enrol(user=other)
    response = admin_login(Client(), staff.email, current_code(device))
    assert response.status_code == 200 and "That code is not right" in response.text


def test_staff_without_two_factor_are_told_how_to_set_it_up(client):
    UserFactory(email="new@pricelab.example", is_staff=True)
    response = admin_login(client, "new@pricelab.example", "123456")
    assert response.status_code == 200 and "no two-factor set up yet" in response.text
    assert f'href="{reverse("two_factor")}"' in client.get(ADMIN_LOGIN).text


def test_customers_log_in_with_a_password_only_and_still_never_reach_admin(client):
    customer = MembershipFactory().user
    response = client.post(reverse("login"), {"username": customer.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.get("/admin/").status_code == 302


def test_admin_pages_never_show_a_devices_secret(client, staff):
    log_in_staff(client, staff)
    page = client.get(f"/admin/otp_totp/totpdevice/{staff.device.pk}/change/").text
    assert staff.device.key not in page
    assert client.get(f"/admin/otp_totp/totpdevice/{staff.device.pk}/qrcode/").status_code == 403
    static = staff.device.user.staticdevice_set.get()
    assert staff.backup_codes[0] not in client.get(f"/admin/otp_static/staticdevice/{static.pk}/change/").text


def test_staff_change_their_password_in_the_admin_under_the_validators(client, staff):
    log_in_staff(client, staff)
    url = reverse("admin:password_change")
    weak = client.post(
        url, {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"}
    )
    assert weak.status_code == 200 and "This password is too common." in weak.text
    new = "a-fresh-staff-passphrase-2026"
    assert (
        client.post(url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new}).status_code
        == 302
    )
    staff.refresh_from_db()
    assert staff.check_password(new)
    assert client.get("/admin/").status_code == 200  # this session stays verified
