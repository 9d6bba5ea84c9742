# Made safe for a live database by hand (docs/OPERATIONS.md, "Migrations without downtime"):
# built concurrently on PostgreSQL, and a run that failed can be run again.

from django.db import migrations, models

from config.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('experiments', '0004_conversion_carries_exposure'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='exposure',
            index=models.Index(condition=models.Q(('variant__isnull', False)), fields=['tenant', 'variant', 'phase'], name='exposure_variant'),
        ),
    ]
