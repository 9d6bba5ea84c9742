"""The operator's admin groups, as code: ``migrate`` creates them and keeps them in step.

Each group's permissions are set to exactly the list below on every ``migrate``, so a
permission added to a group by hand in the admin is removed again: change it here.
"""

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, router, transaction

FINANCE = "Finance"
STAFF = "Staff"

_BILLING_MODELS = (
    "plan", "billingaccount", "subscription", "invoice", "stripeevent",
    "meterreport", "notice", "usagedaily", "usagemonthly",
)  # fmt: skip

# group -> (app_label, codename) pairs.
GROUP_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    # Finance reads everything in billing, and tenants to see who is who; it changes nothing.
    # Both read the audit log (who changed plans, keys, members...); nobody may change it.
    FINANCE: [("billing", f"view_{model}") for model in _BILLING_MODELS]
    + [("tenants", "view_tenant"), ("audit", "view_auditentry")],
    # Staff support tenants: people and limit overrides; billing state comes from Stripe.
    STAFF: [
        ("tenants", "view_tenant"),
        ("tenants", "change_tenant"),
        ("tenants", "view_membership"),
        ("tenants", "change_membership"),
        ("tenants", "view_apikey"),
        ("billing", "view_billingaccount"),
        ("billing", "change_billingaccount"),
        ("billing", "view_plan"),
        ("billing", "view_subscription"),
        ("billing", "view_invoice"),
        ("billing", "view_stripeevent"),
        ("audit", "view_auditentry"),
    ],
}


def groups_ensure(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the Finance and Staff groups if missing and set their permissions to the list."""
    if not router.allow_migrate_model(using, Group):
        return
    # Permissions are created by each app's post_migrate; make sure those of the apps named
    # here exist whatever order the handlers ran in (create_permissions is idempotent).
    for label in sorted({label for pairs in GROUP_PERMISSIONS.values() for label, _ in pairs}):
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using)
    with transaction.atomic(using=using):
        for name, pairs in GROUP_PERMISSIONS.items():
            wanted = set(pairs)
            permissions = [
                p
                for p in Permission.objects.using(using)
                .filter(content_type__app_label__in={label for label, _ in pairs})
                .select_related("content_type")
                if (p.content_type.app_label, p.codename) in wanted
            ]
            found = {(p.content_type.app_label, p.codename) for p in permissions}
            if missing := wanted - found:
                raise LookupError(f"Permissions for group {name!r} do not exist: {sorted(missing)}")
            group, _ = Group.objects.using(using).get_or_create(name=name)
            group.permissions.set(permissions)


def groups_after_migrate(
    sender: object, using: str = DEFAULT_DB_ALIAS, apps: Apps = global_apps, **kwargs: object
) -> None:
    """post_migrate receiver: keep the groups in step after every ``migrate``."""
    # ``apps`` is the migrated state: a partial migrate (``migrate contenttypes``) may not
    # have created the tables of auth or of the models named here yet.
    models = {("auth", "permission"), ("auth", "group")} | {
        (label, codename.split("_", 1)[1])
        for pairs in GROUP_PERMISSIONS.values()
        for label, codename in pairs
    }
    try:
        for label, model in models:
            apps.get_model(label, model)
    except LookupError:
        return
    groups_ensure(using=using)
