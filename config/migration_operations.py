"""Operations that migrations share: SQL for one database only, and indexes built without
blocking writes on PostgreSQL (docs/OPERATIONS.md, "Migrations without downtime").

Migrations import these by name, so change their behaviour only in a way that every
migration already applied would also accept.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


def sql_per_vendor(statements_by_vendor: dict[str, str | list[str]]):
    """A RunPython function that executes the statements listed for the database it runs
    on ("postgresql", "sqlite"), and nothing on any other."""

    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement)

    return run


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, after dropping what a failed build left (an
    invalid index under the same name), so a failed run can run again; a plain CREATE INDEX
    elsewhere (SQLite). The migration must say ``atomic = False``."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
