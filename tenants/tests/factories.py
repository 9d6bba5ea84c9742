import factory

from tenants import services
from tenants.models import ApiKey, Membership, Role, Scope, Tenant, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")

    @factory.post_generation
    def billing(obj, create, extracted, **kwargs):
        """Every tenant has its billing account on Free, as tenants.services.tenant_create makes it."""
        if create:
            from billing.services import account_ensure

            account_ensure(tenant=obj)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


def api_key_for(
    tenant: Tenant, scopes=(Scope.READ, Scope.WRITE, Scope.ADMIN), name="Test key"
) -> tuple[ApiKey, str]:
    return services.api_key_create(tenant=tenant, name=name, scopes=scopes)
