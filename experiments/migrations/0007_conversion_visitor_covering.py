# Made safe for a live database by hand (docs/OPERATIONS.md, "Migrations without downtime"):
# the new index is built without blocking writes, and a run that failed can be run again.

from django.db import migrations

from config.migration_operations import sql_per_vendor

# On PostgreSQL the (tenant, experiment, phase, visitor) index of conversions also carries
# what results read of each conversion (INCLUDE), so that results read a phase's
# conversions from the index alone (experiments.selectors): from the table, each of them
# cost a visit to its own page (conversions of one visitor arrive at different times),
# about a third of the statement. The model's index does not say INCLUDE because SQLite has
# no such indexes (models.W040). The covering index is built beside the old one, which then
# goes, and it takes the old name. A failed build leaves an invalid index under the new
# name, which each attempt drops first; an attempt that failed after the old index went
# builds the new one again.
KEYS = "(tenant_id, experiment_id, phase, visitor_id)"
COVER = [
    "DROP INDEX CONCURRENTLY IF EXISTS conversion_visitor_covering",
    f"CREATE INDEX CONCURRENTLY conversion_visitor_covering ON experiments_conversion {KEYS}"
    " INCLUDE (occurred_at, revenue, variant_id, exposed_at)",
    "DROP INDEX CONCURRENTLY IF EXISTS conversion_visitor",
    "ALTER INDEX conversion_visitor_covering RENAME TO conversion_visitor",
]
UNCOVER = [
    "DROP INDEX CONCURRENTLY IF EXISTS conversion_visitor_keys",
    f"CREATE INDEX CONCURRENTLY conversion_visitor_keys ON experiments_conversion {KEYS}",
    "DROP INDEX CONCURRENTLY IF EXISTS conversion_visitor",
    "ALTER INDEX conversion_visitor_keys RENAME TO conversion_visitor",
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('experiments', '0006_conversions_take_exposures'),
    ]

    operations = [
        migrations.RunPython(sql_per_vendor({"postgresql": COVER}), sql_per_vendor({"postgresql": UNCOVER})),
    ]
