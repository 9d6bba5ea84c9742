# A backfill in batches, each its own transaction (docs/OPERATIONS.md, "Migrations without
# downtime"); it touches only conversions without a copy, so a run that failed can simply
# be run again.

from django.db import migrations, models

BACKFILL_BATCH = 5000

# Conversions stored before 0004 take their visitor's exposure, as new ones do when they are
# stored after it (experiments.ingest). Results look up a conversion that does not carry
# one, so the old code and a half-done backfill both count correctly.
ATTRIBUTE = """
UPDATE experiments_conversion AS c SET variant_id = e.variant_id, exposed_at = e.exposed_at
FROM experiments_exposure AS e
WHERE c.variant_id IS NULL AND c.id > %s AND c.id <= %s
  AND e.tenant_id = c.tenant_id AND e.experiment_id = c.experiment_id
  AND e.phase = c.phase AND e.visitor_id = c.visitor_id
"""


def attribute_all(apps, schema_editor):
    Conversion = apps.get_model("experiments", "Conversion")
    last = Conversion.objects.aggregate(last=models.Max("id"))["last"] or 0
    for start in range(0, last, BACKFILL_BATCH):
        schema_editor.execute(ATTRIBUTE, [start, start + BACKFILL_BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('experiments', '0005_exposure_variant_index'),
    ]

    operations = [
        migrations.RunPython(attribute_all, migrations.RunPython.noop),
    ]
