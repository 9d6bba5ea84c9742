# Made safe for a live database by hand (docs/OPERATIONS.md, "Migrations without downtime"):
# built concurrently on PostgreSQL, and a run that failed can be run again.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, after dropping what a failed build left (an
    invalid index under the same name); a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


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
