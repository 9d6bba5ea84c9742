from tenants.tests.conftest import alice, charlie  # noqa: F401  (the two tenants, shared)
