from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import health, views
from tenants.views import auth_rate_limited

# Staff accounts are the most powerful: their login is rate limited like everyone's.
admin.site.login = auth_rate_limited(admin.site.login)

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v1/", include("tenants.api_urls")),
    path("api/v1/", include("pricing.api_urls")),
    path("api/v1/", include("experiments.api_urls")),
    path("api/v1/", include("billing.api_urls")),
    path("api/v1/", include("audit.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL: the CSP allows no inline scripts.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/(?P<path>.*)$", views.api_not_found),
    path("admin/", admin.site.urls),
    path("billing/", include("billing.urls")),
    path("products/", include("pricing.urls")),
    path("webhooks/", include("pricing.webhook_urls")),
    path("experiments/", include("experiments.urls")),
    path("audit/", include("audit.urls")),
    path("", include("tenants.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
