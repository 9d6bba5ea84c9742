import re

import pytest
from django.core import mail
from django.urls import reverse

from tenants.tests.factories import PASSWORD, UserFactory
from tenants.tests.helpers import password_works

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-and-unusual-passphrase"


def reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", message.body).group(1)


def test_a_person_resets_a_forgotten_password_by_email(client):
    user = UserFactory(email="ada@example.com")
    assert "Forgot your password?" in client.get(reverse("login")).text
    response = client.post(reverse("password_reset"), {"email": "ADA@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    [message] = mail.outbox
    assert (message.subject, message.to) == ("Reset your Pricelab password", ["ada@example.com"])
    assert message.alternatives[0].mimetype == "text/html"
    form = client.get(reset_link(message), follow=True)
    assert "Choose a new password" in form.text
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == reverse("password_reset_complete")
    assert password_works(user.email, NEW_PASSWORD)
    assert not password_works(user.email, PASSWORD)
    # The link is spent.
    assert "no longer works" in client.get(reset_link(message), follow=True).text


def test_an_unknown_address_gets_the_same_answer_and_no_email(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_a_weak_new_password_is_refused_next_to_its_field(client):
    UserFactory(email="ada@example.com")
    client.post(reverse("password_reset"), {"email": "ada@example.com"})
    form = client.get(reset_link(mail.outbox[0]), follow=True)
    page = client.post(form.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"})
    assert page.status_code == 200
    assert "too common" in page.text


def test_reset_requests_are_limited_to_five_a_minute_per_ip_address(client):
    codes = [
        client.post(reverse("password_reset"), {"email": f"p{i}@example.com"}).status_code for i in range(6)
    ]
    assert codes == [302] * 5 + [429]
