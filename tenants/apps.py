from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and accounts"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from config import startup  # noqa: F401  (registers the deploy check)
        from tenants import cors, schema  # noqa: F401  (schema registers the OpenAPI auth extension)

        # Each tenant's allowed origins, beyond the deployment-wide CORS_ALLOWED_ORIGINS.
        check_request_enabled.connect(cors.request_admitted, dispatch_uid="tenants.cors")
