"""Repeated wrong passwords lock one email out from one address for a while (django-axes),
on every page that takes a password, without telling whether the account exists."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt, AccessLog
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.tasks import LOGIN_RECORDS_KEEP_DAYS, login_records_prune
from tenants.tests.factories import PASSWORD, UserFactory
from tenants.tests.helpers import password_works

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_ip_rate_limit(settings):
    """The per-address rate limit (5 a minute) has tests of its own; here only the lockout acts."""
    settings.AUTH_RATE_LIMIT = "1000/m"


WRONG = "wrong-password"


def attempt(client: Client, email: str, password: str = WRONG, **extra):
    return client.post(reverse("login"), {"username": email, "password": password}, **extra)


def fail_until_locked(client: Client, email: str, settings, **extra):
    """The wrong passwords that lock the pair: the last one answers with the lockout page."""
    answers = [attempt(client, email, **extra) for _ in range(settings.LOGIN_LOCKOUT_FAILURES)]
    assert [a.status_code for a in answers] == [200] * (settings.LOGIN_LOCKOUT_FAILURES - 1) + [429]
    return answers[-1]


def card(response) -> str:
    """The lockout page's message, without the per-request CSRF token of the layout."""
    return re.search(r'<section class="card auth-card">.*?</section>', response.text, re.DOTALL).group(0)


def test_five_wrong_passwords_lock_the_email_out_for_fifteen_minutes(client, settings):
    user = UserFactory(email="ada@example.com")
    locked = fail_until_locked(client, user.email, settings)
    assert locked["Retry-After"] == "900" and "no-store" in locked["Cache-Control"]
    assert "Logging in is paused" in locked.text and "15 minutes" in locked.text
    assert f'href="{reverse("password_reset")}"' in locked.text
    # Even the right password waits out the pause.
    assert attempt(client, user.email, PASSWORD).status_code == 429


def test_the_lockout_page_does_not_tell_whether_the_account_exists(client, settings):
    UserFactory(email="ada@example.com")
    real = fail_until_locked(client, "ada@example.com", settings)
    made_up = fail_until_locked(client, "nobody@example.com", settings)
    assert card(real) == card(made_up)
    assert "ada@example.com" not in real.text and "nobody@example.com" not in made_up.text


def test_the_lockout_page_has_no_inline_script_or_style(client, settings):
    page = fail_until_locked(client, "ada@example.com", settings).text
    assert "style=" not in page and "<style" not in page
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


def test_case_and_spaces_in_the_email_do_not_buy_more_guesses(client, settings):
    user = UserFactory(email="ada@example.com")
    for email in ["ada@example.com", "ADA@example.com", " Ada@Example.com", "ada@EXAMPLE.com"]:
        attempt(client, email)
    assert attempt(client, "Ada@example.com").status_code == 429
    assert attempt(client, user.email, PASSWORD).status_code == 429


def test_the_lock_is_per_address_so_others_cannot_lock_the_owner_out(client, settings):
    user = UserFactory(email="ada@example.com")
    fail_until_locked(client, user.email, settings, REMOTE_ADDR="203.0.113.9")
    assert attempt(Client(), user.email, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302


def test_behind_a_proxy_the_lock_follows_the_clients_address(client, settings):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    user = UserFactory(email="ada@example.com")
    fail_until_locked(client, user.email, settings, HTTP_X_REAL_IP="203.0.113.9")
    assert attempt(Client(), user.email, PASSWORD, HTTP_X_REAL_IP="198.51.100.7").status_code == 302
    assert attempt(Client(), user.email, PASSWORD, HTTP_X_REAL_IP="203.0.113.9").status_code == 429


def test_the_pause_ends_after_the_cool_off(client, settings):
    user = UserFactory(email="ada@example.com")
    fail_until_locked(client, user.email, settings)
    started = AccessAttempt.objects.get().attempt_time
    AccessAttempt.objects.update(attempt_time=started - timedelta(minutes=16))
    assert attempt(client, user.email, PASSWORD).status_code == 302


def test_a_right_password_before_the_limit_starts_the_count_again(client, settings):
    user = UserFactory(email="ada@example.com")
    for _ in range(settings.LOGIN_LOCKOUT_FAILURES - 1):
        attempt(Client(), user.email)
    assert attempt(Client(), user.email, PASSWORD).status_code == 302
    assert [attempt(client, user.email).status_code for _ in range(2)] == [200, 200]


def test_resetting_the_password_lifts_the_lockout(client, settings):
    user = UserFactory(email="ada@example.com")
    fail_until_locked(client, user.email, settings)
    client.post(reverse("password_reset"), {"email": user.email})
    link = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    new = "a-brand-new-long-passphrase"
    client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert attempt(client, user.email, new).status_code == 302


def test_the_staff_admin_login_locks_out_too(client, settings):
    staff = UserFactory(email="sam@pricelab.example", is_staff=True)
    answers = [
        client.post("/admin/login/", {"username": staff.email, "password": "wrong", "otp_token": "123456"})
        for _ in range(settings.LOGIN_LOCKOUT_FAILURES)
    ]
    assert answers[-1].status_code == 429 and "Logging in is paused" in answers[-1].text
    assert attempt(Client(), staff.email, PASSWORD).status_code == 429  # the same pair, any login page


def test_an_operator_unlocks_an_email_with_axes_reset_username(client, settings):
    user = UserFactory(email="ada@example.com")
    fail_until_locked(client, user.email, settings)
    out = StringIO()
    call_command("axes_reset_username", "ada@example.com", stdout=out)
    assert "removed" in out.getvalue()
    assert password_works(user.email, PASSWORD)


def test_no_email_or_address_is_written_to_the_log(client, settings, caplog):
    caplog.set_level("INFO")
    fail_until_locked(client, "ada@example.com", settings, REMOTE_ADDR="203.0.113.9")
    assert "ada@example.com" not in caplog.text and "203.0.113.9" not in caplog.text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_lockout_page_is_served_under_asgi_too(async_client, settings):
    """The realtime process (and `make run`) serve pages through ASGI, where axes' middleware
    takes another path to the same page."""
    answers = [
        await async_client.post(reverse("login"), {"username": "ada@example.com", "password": WRONG})
        for _ in range(settings.LOGIN_LOCKOUT_FAILURES)
    ]
    assert answers[-1].status_code == 429 and "Logging in is paused" in answers[-1].content.decode()
    assert answers[-1]["Retry-After"] == "900"


def test_sign_in_records_older_than_the_keep_period_are_pruned(client, settings):
    user = UserFactory(email="ada@example.com")
    for _ in range(2):
        assert attempt(Client(), user.email, PASSWORD).status_code == 302
    assert AccessLog.objects.count() == 2
    old = AccessLog.objects.first()
    AccessLog.objects.filter(pk=old.pk).update(
        attempt_time=timezone.now() - timedelta(days=LOGIN_RECORDS_KEEP_DAYS, minutes=1)
    )
    assert login_records_prune.delay().get() == 1
    assert not AccessLog.objects.filter(pk=old.pk).exists()
    assert AccessLog.objects.count() == 1  # the recent sign-in stays
