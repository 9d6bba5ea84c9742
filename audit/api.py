from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import ActorKind, AuditEntry
from audit.selectors import audit_filter
from config.api import error_responses
from tenants.mixins import TenantScopedAPIMixin
from tenants.models import Scope

STAFF_LABEL = "Pricelab staff"


class AuditFilter(serializers.Serializer):
    """The filters of the audit log, for the API and the page alike."""

    action = serializers.CharField(
        required=False,
        max_length=64,
        help_text="A code (price.changed), or a family ending in a dot (experiment.).",
    )
    actor = serializers.CharField(required=False, max_length=254, help_text="An email or an API key prefix.")
    actor_kind = serializers.ChoiceField(choices=ActorKind.choices, required=False)
    object_type = serializers.CharField(required=False, max_length=32, help_text="e.g. product, experiment.")
    object_id = serializers.CharField(required=False, max_length=64)
    since = serializers.DateTimeField(required=False, help_text="Entries at or after this time (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Entries before this time (ISO 8601).")


def masked_staff(entry: AuditEntry) -> bool:
    return entry.actor_kind == ActorKind.STAFF


class AuditEntryOut(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="kind, label (email or key prefix) and id.")
    object = serializers.SerializerMethodField(help_text="type, id and label of what changed.")
    ip_address = serializers.SerializerMethodField()
    user_agent = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id", "created_at", "action", "actor", "object", "before", "after", "request_id", "ip_address",
            "user_agent",
        ]  # fmt: skip

    def get_actor(self, entry: AuditEntry) -> dict[str, Any]:
        # Customers learn that Pricelab staff acted, not which operator, nor from where.
        if masked_staff(entry):
            return {"kind": entry.actor_kind, "label": STAFF_LABEL, "id": None}
        ident = entry.actor_user_id if entry.actor_kind == ActorKind.USER else entry.actor_api_key_id
        return {"kind": entry.actor_kind, "label": entry.actor_label, "id": ident}

    def get_object(self, entry: AuditEntry) -> dict[str, str]:
        return {"type": entry.object_type, "id": entry.object_id, "label": entry.object_label}

    def get_ip_address(self, entry: AuditEntry) -> str | None:
        return None if masked_staff(entry) else entry.ip_address

    def get_user_agent(self, entry: AuditEntry) -> str:
        return "" if masked_staff(entry) else entry.user_agent


class AuditEntryList(TenantScopedAPIMixin, generics.ListAPIView):
    """The tenant's audit log, newest first: who changed prices, experiments, plans, keys,
    members and webhooks, when, and each changed field before and after. Needs ``admin``."""

    scoped_model = AuditEntry
    serializer_class = AuditEntryOut
    required_scopes = {"GET": Scope.ADMIN, "HEAD": Scope.ADMIN}

    def refine_queryset(self, queryset):
        filters = AuditFilter(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return audit_filter(queryset, **filters.validated_data)

    @extend_schema(
        parameters=[AuditFilter],
        responses={200: AuditEntryOut(many=True), **error_responses()},
        operation_id="audit_list",
    )
    def get(self, request: Request) -> Response:
        return self.list(request)
