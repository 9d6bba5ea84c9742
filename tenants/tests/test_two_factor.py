"""Staff set up their second factor: on the account page after re-entering the password, or
by an operator's command. Either way the result opens the admin, and nothing else does."""

import re
from io import StringIO
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import services
from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tenants.tests.helpers import log_in_staff

pytestmark = pytest.mark.django_db

PAGE = "/account/two-factor/"


@pytest.fixture(autouse=True)
def _self_enrolment_on(settings):
    """The page's own steps are what most tests here try; a deployment turns them on."""
    settings.STAFF_TWO_FACTOR_SELF_ENROL = True


def code_for(secret_b32: str) -> str:
    """What an authenticator app given this key shows now (30 s steps, 6 digits)."""
    from base64 import b32decode

    return f"{TOTP(b32decode(secret_b32)).token():06d}"


def shown_secret(page: str) -> str:
    return re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)


def admin_login(email: str, code: str) -> Client:
    client = Client()
    client.post("/admin/login/", {"username": email, "password": PASSWORD, "otp_token": code})
    return client


@pytest.fixture
def sam(client):
    """A new staff member, logged in with a password on the customer login page."""
    user = UserFactory(email="sam@pricelab.example", is_staff=True)
    assert client.post(reverse("login"), {"username": user.email, "password": PASSWORD}).status_code == 302
    return user


def test_a_new_staff_member_sets_up_an_authenticator_and_reaches_the_admin(client, sam):
    page = client.get(PAGE)
    assert page.status_code == 200 and "Confirm your password" in page.text
    assert "no-store" in page["Cache-Control"]
    setup = client.post(PAGE, {"step": "password", "password": PASSWORD})
    assert setup.status_code == 200 and "no-store" in setup["Cache-Control"]
    assert "<svg" in setup.text and "style=" not in setup.text.split("<svg", 1)[1].split("</svg>")[0]
    secret = shown_secret(setup.text)
    assert client.get("/admin/").status_code == 302  # not yet: the device is not confirmed

    done = client.post(PAGE, {"step": "confirm", "token": code_for(secret)})
    assert done.status_code == 200 and "backup codes" in done.text
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.text)
    assert len(codes) == services.BACKUP_CODES
    # This session showed both factors: the admin opens without logging in again.
    assert client.get("/admin/").status_code == 200
    # Elsewhere, a backup code does it.
    assert admin_login(sam.email, codes[0]).get("/admin/").status_code == 200

    again = client.get(PAGE).text
    assert "Two-factor is on" in again and secret not in again and codes[1] not in again


def test_the_password_is_asked_again_and_wrong_guesses_count_toward_the_lockout(client, sam, settings):
    settings.AUTH_RATE_LIMIT = "1000/m"
    wrong = client.post(PAGE, {"step": "password", "password": "not-it"})
    assert wrong.status_code == 400 and "That is not your password." in wrong.text
    assert not TOTPDevice.objects.filter(user=sam).exists()
    for _ in range(settings.LOGIN_LOCKOUT_FAILURES - 1):
        last = client.post(PAGE, {"step": "password", "password": "not-it"})
    assert last.status_code == 429 and "Logging in is paused" in last.text
    # Locked: even the right password waits.
    assert client.post(PAGE, {"step": "password", "password": PASSWORD}).status_code == 429


def test_a_wrong_first_code_turns_nothing_on(client, sam):
    secret = shown_secret(client.post(PAGE, {"step": "password", "password": PASSWORD}).text)
    wrong = "000000" if code_for(secret) != "000000" else "111111"
    response = client.post(PAGE, {"step": "confirm", "token": wrong})
    assert response.status_code == 400 and "That code is not right" in response.text
    assert not TOTPDevice.objects.filter(user=sam, confirmed=True).exists()
    assert client.get("/admin/").status_code == 302


def test_a_setup_left_open_too_long_must_start_again(client, sam, monkeypatch):
    secret = shown_secret(client.post(PAGE, {"step": "password", "password": PASSWORD}).text)
    import tenants.views

    monkeypatch.setattr(tenants.views, "TWO_FACTOR_SETUP_SECONDS", -1)
    response = client.post(PAGE, {"step": "confirm", "token": code_for(secret)}, follow=True)
    assert "took too long" in response.text
    assert not TOTPDevice.objects.filter(user=sam, confirmed=True).exists()


def test_confirming_needs_the_password_step_in_this_session(sam):
    """A stolen session cookie without the password cannot see or confirm a secret."""
    thief = Client()
    thief.force_login(sam)
    response = thief.post(PAGE, {"step": "confirm", "token": "123456"}, follow=True)
    assert "Start again" in response.text and 'class="secret"' not in response.text


def test_someone_with_two_factor_cannot_set_up_another_by_password(client, sam):
    services.staff_two_factor_enrol(user=sam)
    response = client.post(PAGE, {"step": "password", "password": PASSWORD}, follow=True)
    assert "already set up" in response.text and 'class="secret"' not in response.text
    assert TOTPDevice.objects.filter(user=sam).count() == 1


def test_new_backup_codes_need_a_verified_session(client, sam):
    _, first = services.staff_two_factor_enrol(user=sam)
    assert client.post(PAGE, {"step": "backup_codes"}).status_code == 403
    verified = log_in_staff(Client(), sam)
    page = verified.post(PAGE, {"step": "backup_codes"})
    fresh = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page.text)
    assert len(fresh) == services.BACKUP_CODES and not set(fresh) & set(first)
    assert admin_login(sam.email, fresh[0]).get("/admin/").status_code == 200
    assert admin_login(sam.email, first[0]).get("/admin/").status_code == 302  # old ones are gone


def test_customers_have_no_two_factor_page(client):
    client.force_login(MembershipFactory().user)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, {"step": "password", "password": PASSWORD}).status_code == 404


def test_logged_out_people_are_sent_to_log_in_first(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={PAGE}"


def test_self_setup_is_left_to_operators_unless_turned_on(client, sam, settings):
    settings.STAFF_TWO_FACTOR_SELF_ENROL = False  # the default
    assert "manage.py staff_two_factor" in client.get(PAGE).text
    assert client.post(PAGE, {"step": "password", "password": PASSWORD}).status_code == 403


# --- The operator's command ----------------------------------------------------------------


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("staff_two_factor", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_the_command_prints_an_authenticator_uri_that_opens_the_admin():
    UserFactory(email="ops@pricelab.example", is_staff=True, is_superuser=True)
    lines = run("OPS@pricelab.example")
    uri = lines[-1]
    assert uri.startswith("otpauth://totp/")
    query = parse_qs(urlparse(uri).query)
    assert query["issuer"] == ["Pricelab"]
    client = admin_login("ops@pricelab.example", code_for(query["secret"][0]))
    assert client.get("/admin/").status_code == 200
    codes = next(line for line in lines if line.startswith("backup codes")).split(": ")[1].split()
    assert len(codes) == services.BACKUP_CODES


def test_the_command_replaces_a_lost_authenticator_only_when_asked():
    user = UserFactory(email="ops@pricelab.example", is_staff=True)
    old, _ = services.staff_two_factor_enrol(user=user)
    verified = log_in_staff(Client(), user)
    with pytest.raises(CommandError, match="--replace"):
        run(user.email)
    new_uri = run(user.email, "--replace", "--qr")[-1]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    # The session that the lost device verified is no longer let in.
    assert verified.get("/admin/").status_code == 302
    secret = parse_qs(urlparse(new_uri).query)["secret"][0]
    assert admin_login(user.email, code_for(secret)).get("/admin/").status_code == 200


def test_the_command_refuses_customers_and_unknown_emails():
    customer = MembershipFactory().user
    with pytest.raises(CommandError, match="not staff"):
        run(customer.email)
    with pytest.raises(CommandError, match="No account"):
        run("nobody@example.com")
    assert not TOTPDevice.objects.exists()
