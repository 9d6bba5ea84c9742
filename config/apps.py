from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Django's admin whose default site asks for a second factor: every app's
    ``admin.site.register`` and ``@admin.register`` land on it unchanged."""

    default_site = "config.admin.AdminSite"
