from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants import api

router = SimpleRouter(use_regex_path=False)
router.register("api-keys", api.ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("tenant/", api.TenantView.as_view(), name="api-tenant"),
    *router.urls,
]
