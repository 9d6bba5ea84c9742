from django.db import migrations

# The tiers issue 5 names. Staff change them in admin afterwards; this only seeds.
PLANS = [
    {"code": "free", "name": "Free", "monthly_price": "0", "monthly_units": 1_000, "requests_per_minute": 60,
     "overage": False, "position": 0, "public": True},
    {"code": "starter", "name": "Starter", "monthly_price": "9", "monthly_units": 10_000,
     "requests_per_minute": 120, "overage": False, "position": 1, "public": True},
    {"code": "pro", "name": "Pro", "monthly_price": "29", "monthly_units": 100_000, "requests_per_minute": 300,
     "overage": True, "position": 2, "public": True},
    {"code": "enterprise", "name": "Enterprise", "monthly_price": "0", "monthly_units": None,
     "requests_per_minute": None, "overage": True, "position": 3, "public": False},
]  # fmt: skip


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for plan in PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
