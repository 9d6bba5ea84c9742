import pytest
from rest_framework import viewsets

from tenants.mixins import TenantScopedAPIMixin
from tenants.models import ApiKey, Membership
from tenants.scoping import TenantScopeError
from tenants.tests.factories import MembershipFactory, TenantFactory, api_key_for


@pytest.fixture
def two_tenants(db):
    a, b = TenantFactory(), TenantFactory()
    api_key_for(a, name="A's key")
    api_key_for(b, name="B's key")
    return a, b


def test_query_without_a_tenant_is_refused(two_tenants):
    with pytest.raises(TenantScopeError):
        list(ApiKey.objects.all())
    with pytest.raises(TenantScopeError):
        ApiKey.objects.filter(name="A's key").count()
    with pytest.raises(TenantScopeError):
        ApiKey.objects.filter(name="A's key").exists()
    with pytest.raises(TenantScopeError):
        ApiKey.objects.update(name="renamed")
    with pytest.raises(TenantScopeError):
        ApiKey.objects.all().delete()
    assert ApiKey.objects.unscoped().filter(name="renamed").count() == 0


def test_tenant_that_is_ored_or_negated_does_not_count_as_scoped(two_tenants):
    from django.db.models import Q

    a, _ = two_tenants
    with pytest.raises(TenantScopeError):
        list(ApiKey.objects.filter(Q(tenant=a) | Q(name="B's key")))
    with pytest.raises(TenantScopeError):
        list(ApiKey.objects.exclude(tenant=a))


def test_scoped_queries_see_only_their_tenant(two_tenants):
    a, b = two_tenants
    assert [k.name for k in ApiKey.objects.for_tenant(a)] == ["A's key"]
    assert [k.name for k in ApiKey.objects.filter(tenant_id=b.pk)] == ["B's key"]
    assert [k.name for k in a.apikeys.all()] == ["A's key"]
    assert ApiKey.objects.unscoped().count() == 2


def test_memberships_are_scoped_too(db):
    membership = MembershipFactory()
    with pytest.raises(TenantScopeError):
        list(Membership.objects.filter(user=membership.user))
    assert Membership.objects.for_tenant(membership.tenant).get().user == membership.user


def test_an_api_view_cannot_bypass_the_scoped_queryset():
    with pytest.raises(TypeError, match="must not define get_queryset"):

        class Leaky(TenantScopedAPIMixin, viewsets.GenericViewSet):
            scoped_model = ApiKey

            def get_queryset(self):
                return ApiKey.objects.unscoped()

    with pytest.raises(TypeError, match="must not define queryset"):

        class AlsoLeaky(TenantScopedAPIMixin, viewsets.GenericViewSet):
            scoped_model = ApiKey
            queryset = ApiKey.objects.unscoped()


def test_a_joined_tables_tenant_does_not_scope_the_query(two_tenants):
    _, b = two_tenants
    MembershipFactory(tenant=b)
    with pytest.raises(TenantScopeError):
        list(ApiKey.objects.filter(created_by__memberships__tenant=b))


def test_an_expression_does_not_scope_the_query(two_tenants):
    from django.db.models import F

    with pytest.raises(TenantScopeError):
        list(ApiKey.objects.filter(tenant_id=F("tenant_id")))


def test_every_part_of_a_union_must_be_scoped(two_tenants):
    a, b = two_tenants
    with pytest.raises(TenantScopeError):
        list(ApiKey.objects.for_tenant(a).union(ApiKey.objects.all()))
    both = ApiKey.objects.for_tenant(a).union(ApiKey.objects.for_tenant(b))
    assert len(list(both)) == 2


def test_subqueries_must_be_scoped(two_tenants):
    from django.db.models import Exists, OuterRef, Subquery

    from tenants.models import Tenant

    a, _ = two_tenants
    with pytest.raises(TenantScopeError):
        list(Tenant.objects.filter(pk__in=ApiKey.objects.values("tenant_id")))
    with pytest.raises(TenantScopeError):
        list(Tenant.objects.annotate(k=Subquery(ApiKey.objects.values("prefix")[:1])))
    with pytest.raises(TenantScopeError):
        list(Tenant.objects.filter(Exists(ApiKey.objects.filter(name=OuterRef("name")))))
    scoped = Tenant.objects.filter(pk__in=ApiKey.objects.for_tenant(a).values("tenant_id"))
    assert list(scoped) == [a]


def test_async_iteration_is_checked_too(two_tenants):
    from asgiref.sync import async_to_sync

    async def collect(queryset):
        return [key async for key in queryset.aiterator()]

    a, _ = two_tenants
    with pytest.raises(TenantScopeError):
        async_to_sync(collect)(ApiKey.objects.all())
    assert len(async_to_sync(collect)(ApiKey.objects.for_tenant(a))) == 1
