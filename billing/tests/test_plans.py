import pytest
from django.urls import reverse

from billing.models import BillingAccount, Plan
from billing.selectors import limits_effective
from billing.services import account_ensure
from tenants import services as tenant_services
from tenants.tests.factories import UserFactory
from tenants.tests.helpers import log_in_staff

pytestmark = pytest.mark.django_db


def test_the_plans_of_the_price_list_are_seeded():
    plans = {
        p.code: (str(p.monthly_price), p.monthly_units, p.requests_per_minute, p.overage)
        for p in Plan.objects.all()
    }
    assert plans == {
        "free": ("0.00", 1_000, 60, False),
        "starter": ("9.00", 10_000, 120, False),
        "pro": ("29.00", 100_000, 300, True),
        "enterprise": ("0.00", None, None, True),
    }


def test_a_new_tenant_starts_on_free_with_free_limits():
    tenant = tenant_services.tenant_create(name="New Shop", owner=UserFactory())
    assert BillingAccount.objects.for_tenant(tenant).get().plan.code == "free"
    limits = limits_effective(tenant=tenant)
    assert (limits.plan, limits.monthly_units, limits.requests_per_minute, limits.overridden) == (
        "free",
        1000,
        60,
        False,
    )


def test_staff_overrides_take_precedence_and_need_a_reason(client, alice):
    staff = UserFactory(is_staff=True, is_superuser=True)
    log_in_staff(client, staff)
    account = account_ensure(tenant=alice.tenant)
    url = reverse("admin:billing_billingaccount_change", args=[account.pk])
    form = {"plan": Plan.objects.get(code="starter").pk, "monthly_units_override": 50_000,
            "requests_per_minute_override": "", "override_reason": ""}  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 200 and "Say why" in response.text
    response = client.post(url, {**form, "override_reason": "Launch week, agreed with sales"})
    assert response.status_code == 302
    limits = limits_effective(tenant=alice.tenant)
    assert (limits.plan, limits.monthly_units, limits.requests_per_minute, limits.overridden) == (
        "starter", 50_000, 120, True,
    )  # fmt: skip
    account.refresh_from_db()
    assert account.overridden_by == staff and account.overridden_at is not None


def test_paid_plans_map_to_stripe_prices_from_settings(settings):
    settings.STRIPE_PRICE_IDS = {"starter": "price_test_starter", "pro": "price_test_pro"}
    assert Plan.objects.get(code="pro").stripe_price_id == "price_test_pro"
    assert Plan.objects.get(code="free").stripe_price_id == ""


def test_staff_edit_plans_in_admin(client):
    log_in_staff(client, UserFactory(is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:billing_plan_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_billingaccount_changelist")).status_code == 200


def test_customers_cannot_reach_billing_admin(client, alice):
    client.force_login(alice.user)
    assert client.get(reverse("admin:billing_plan_changelist")).status_code == 302


def test_a_tenant_without_an_account_reads_as_free_without_a_write(alice):
    BillingAccount.objects.for_tenant(alice.tenant).delete()
    limits = limits_effective(tenant=alice.tenant)
    assert (limits.plan, limits.monthly_units) == ("free", 1000)
    assert not BillingAccount.objects.for_tenant(alice.tenant).exists()
