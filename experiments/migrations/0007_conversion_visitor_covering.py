# Made safe for a live database by hand (docs/OPERATIONS.md, "Migrations without downtime"):
# the new index is built without blocking writes, and a run that failed can be run again.

from django.db import migrations

# On PostgreSQL the (tenant, experiment, phase, visitor) index of conversions also carries
# what results read of each conversion (INCLUDE), so that results read a phase's
# conversions from the index alone (experiments.selectors): from the table, each of them
# cost a visit to its own page (conversions of one visitor arrive at different times),
# about a third of the statement. The model's index does not say INCLUDE because SQLite has
# no such indexes (models.W040).
#
# The new index is built beside the old one under a temporary name, then the old one goes
# and the new one takes its name (a rename locks the index alone, briefly). In SQL:
#   CREATE INDEX CONCURRENTLY <temporary> ON experiments_conversion <columns>;
#   DROP INDEX CONCURRENTLY IF EXISTS conversion_visitor;
#   ALTER INDEX <temporary> RENAME TO conversion_visitor;
# A rerun after a failure keeps a valid temporary index that an earlier attempt built (so
# the table is never left without one) and drops an invalid one (a build that failed).
KEYS = "(tenant_id, experiment_id, phase, visitor_id)"
COVERING = f"{KEYS} INCLUDE (occurred_at, revenue, variant_id, exposed_at)"


def _valid(schema_editor, name: str) -> bool | None:
    """Whether the index ``name`` is valid; None if there is none."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _replace_with(columns: str, temporary: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if _valid(schema_editor, temporary) is False:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY {temporary}")
        if _valid(schema_editor, temporary) is None:
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY {temporary} ON experiments_conversion {columns}")
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS conversion_visitor")
        schema_editor.execute(f"ALTER INDEX {temporary} RENAME TO conversion_visitor")

    return run


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('experiments', '0006_conversions_take_exposures'),
    ]

    operations = [
        migrations.RunPython(
            _replace_with(COVERING, "conversion_visitor_covering"),
            _replace_with(KEYS, "conversion_visitor_keys"),
        ),
    ]
