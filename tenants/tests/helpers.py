"""Helpers shared by the web UI's page tests."""

from django.test import Client

from tenants.models import Tenant, User


def log_in(client: Client, user: User, tenant: Tenant) -> Client:
    """The client logged in as ``user``, working in ``tenant`` (as the workspace switcher sets it)."""
    client.force_login(user)
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()
    return client
