"""The account pages and the error pages, as a person meets them."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from config import views as error_views
from tenants.tests.factories import MembershipFactory
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db


def test_the_login_page_offers_a_reset_and_a_sign_up(client):
    page = client.get(reverse("login")).text
    assert "Log in to Pricelab" in page
    assert f'href="{reverse("password_reset")}"' in page and f'href="{reverse("signup")}"' in page
    assert (
        '<label for="id_username">Email</label>' in page
        and '<label for="id_password">Password</label>' in page
    )


def test_a_wrong_password_keeps_the_email_typed(client):
    user = MembershipFactory().user
    response = client.post(reverse("login"), {"username": user.email, "password": "nope"})
    assert 'role="alert"' in response.text and "correct email and password" in response.text
    assert f'value="{user.email}"' in response.text


def test_signing_up_again_while_logged_in_offers_a_new_workspace(client, alice):
    client.force_login(alice.user)
    response = client.get(reverse("signup"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("tenant_new")
    assert "You already have an account." in response.text


def test_the_new_workspace_page_lists_the_workspaces_to_switch_to(client, alice):
    other = MembershipFactory(user=alice.user, role="viewer").tenant
    client.force_login(alice.user)
    page = client.get(reverse("tenant_new")).text
    assert "Your workspaces" in page and other.name in page and alice.tenant.name in page
    assert f'name="tenant_id" value="{other.pk}"' in page
    response = client.post(reverse("tenant_switch"), {"tenant_id": other.pk}, follow=True)
    assert f"Switched to {other.name}." in response.text


def test_a_refused_action_gets_the_friendly_403_in_the_app_shell(client, alice):
    viewer = MembershipFactory(tenant=alice.tenant, role="viewer")
    client.force_login(viewer.user)
    response = client.post(reverse("team"), {"email": "x@example.com", "role": "member"})
    assert response.status_code == 403
    assert "You can't do that here" in response.text
    assert "Only owners and admins can invite people." in response.text
    assert 'aria-label="Main"' in response.text  # the navigation is there to carry on


def test_someone_removed_from_a_workspace_is_told_so(client, alice):
    member = MembershipFactory(tenant=alice.tenant, role="member")
    client.force_login(member.user)
    session = client.session
    session["tenant_id"] = alice.tenant.pk
    session.save()
    member.delete()
    response = client.get(reverse("team"))
    assert response.status_code == 403
    assert "You are not in this workspace" in response.text


def test_an_unknown_page_is_a_friendly_404_with_a_way_back(client, alice):
    client.force_login(alice.user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "We couldn't find that page" in response.text
    assert f'href="{reverse("dashboard")}"' in response.text


def test_the_500_page_needs_no_database_and_no_inline_styles(django_assert_num_queries):
    request = RequestFactory().get("/products/")
    with django_assert_num_queries(0):
        response = error_views.server_error(request)
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert '<link rel="stylesheet" href="/static/css/app.css">' in page
    assert "<style" not in page and "style=" not in page and "<script" not in page


def test_the_400_page_stands_alone_too():
    response = error_views.bad_request(RequestFactory().get("/"), Exception())
    page = response.content.decode()
    assert response.status_code == 400 and "We could not read that request" in page
    assert "/static/css/app.css" in page and "style=" not in page


def test_opening_an_action_address_shows_a_page_and_changes_nothing(client, alice):
    log_in(client, alice.user, alice.tenant)
    response = client.get(reverse("logout"))
    assert response.status_code == 405
    assert "This address is a button, not a page" in response.text
    assert "POST" in response["Allow"]
    assert client.get(reverse("dashboard")).status_code == 200  # still logged in


def test_the_api_keeps_its_json_answer_to_a_wrong_method(api, alice):
    response = api.put("/api/v1/tenant/", **alice.auth)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
