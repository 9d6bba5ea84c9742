from django.db import migrations


def open_accounts(apps, schema_editor):
    """Tenants created before billing existed start on the Free plan, like new ones."""
    Tenant = apps.get_model("tenants", "Tenant")
    Plan = apps.get_model("billing", "Plan")
    BillingAccount = apps.get_model("billing", "BillingAccount")
    free = Plan.objects.get(code="free")
    have = set(BillingAccount.objects.values_list("tenant_id", flat=True))
    BillingAccount.objects.bulk_create(
        BillingAccount(tenant_id=tenant_id, plan=free)
        for tenant_id in Tenant.objects.exclude(pk__in=have).values_list("pk", flat=True)
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_usagedaily"), ("tenants", "0002_tenant_price_version")]
    operations = [migrations.RunPython(open_accounts, migrations.RunPython.noop)]
