from django.urls import path

from audit import api

urlpatterns = [
    path("audit/", api.AuditEntryList.as_view(), name="api-audit"),
]
