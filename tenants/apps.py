from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and accounts"

    def ready(self) -> None:
        from config import startup  # noqa: F401  (registers the deploy check)
        from tenants import schema  # noqa: F401  (registers the OpenAPI auth extension)
