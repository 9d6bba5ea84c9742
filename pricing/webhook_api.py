from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from audit.actors import actor_of
from config.api import StrictSerializer, error_responses
from pricing import webhooks
from pricing.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.mixins import TenantScopedAPIMixin
from tenants.models import Scope

# More than there are event types, so a list naming one twice still passes; a flood does not.
EVENT_TYPES_MAX = 20
_ERRORS = error_responses(not_found="No such endpoint or delivery in this tenant.")


class EndpointOut(serializers.ModelSerializer):
    previous_secret_expires_at = serializers.DateTimeField(
        source="previous_secret_valid_until",
        read_only=True,
        allow_null=True,
        help_text="After a roll: until when the previous secret also signs (null: it does not).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "active",
            "created_at",
            "previous_secret_expires_at",
        ]


class EndpointCreatedOut(EndpointOut):
    secret = serializers.CharField(help_text="Signs every delivery. Shown in this response only.")

    class Meta(EndpointOut.Meta):
        fields = [*EndpointOut.Meta.fields, "secret"]


class EndpointIn(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=webhooks.EVENT_TYPES),
        min_length=1,
        max_length=EVENT_TYPES_MAX,
        default=["price.changed"],
    )


class EndpointPatch(StrictSerializer):
    description = serializers.CharField(max_length=200, required=False)
    active = serializers.BooleanField(required=False)


class SecretRollIn(StrictSerializer):
    keep_previous_hours = serializers.IntegerField(
        min_value=0,
        max_value=webhooks.ROLL_KEEP_PREVIOUS_HOURS_MAX,
        default=webhooks.ROLL_KEEP_PREVIOUS_HOURS,
        help_text="How long the current secret keeps signing beside the new one (0: it stops now).",
    )


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "succeeded", "response_status", "latency_ms", "error"]


class DeliveryOut(serializers.ModelSerializer):
    attempt_log = AttemptOut(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "created_at",
            "delivered_at", "payload", "attempt_log",
        ]  # fmt: skip


@extend_schema_view(
    list=extend_schema(responses={200: EndpointOut(many=True), **_ERRORS}),
    retrieve=extend_schema(responses={200: EndpointOut, **_ERRORS}),
    create=extend_schema(request=EndpointIn, responses={201: EndpointCreatedOut, **_ERRORS}),
    partial_update=extend_schema(request=EndpointPatch, responses={200: EndpointOut, **_ERRORS}),
    destroy=extend_schema(responses={204: None, **_ERRORS}),
)
class WebhookEndpointViewSet(
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Webhook endpoints. Reading needs ``read``; changing them ``admin``."""

    scoped_model = WebhookEndpoint
    serializer_class = EndpointOut
    lookup_value_converter = "int"
    required_scopes = {"POST": Scope.ADMIN, "PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request: Request) -> Response:
        """Register an endpoint; the response carries its signing secret, once."""
        data = EndpointIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint, secret = webhooks.endpoint_create(
                tenant=self.access.tenant, by=actor_of(self.access), **data.validated_data
            )
        except DjangoValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from None
        endpoint.secret = secret
        return Response(EndpointCreatedOut(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: int) -> Response:
        """Pause (active: false), resume, or relabel an endpoint."""
        endpoint = self.get_object()
        data = EndpointPatch(data=request.data)
        data.is_valid(raise_exception=True)
        webhooks.endpoint_update(endpoint=endpoint, by=actor_of(self.access), **data.validated_data)
        return Response(EndpointOut(endpoint).data)

    @extend_schema(
        request=SecretRollIn,
        responses={200: EndpointCreatedOut, **_ERRORS},
        operation_id="webhooks_roll_secret",
    )
    @action(detail=True, methods=["post"], url_path="roll-secret")
    def roll_secret(self, request: Request, pk: int) -> Response:
        """A new signing secret, in this response only; the old one signs beside it for a while."""
        endpoint = self.get_object()
        data = SecretRollIn(data=request.data)
        data.is_valid(raise_exception=True)
        webhooks.endpoint_secret_roll(endpoint=endpoint, by=actor_of(self.access), **data.validated_data)
        return Response(EndpointCreatedOut(endpoint).data)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhooks.endpoint_delete(endpoint=instance, by=actor_of(self.access))

    def _deliveries(self, endpoint: WebhookEndpoint):
        attempts = WebhookAttempt.objects.for_tenant(self.access.tenant).order_by("attempted_at")
        return (
            WebhookDelivery.objects.for_tenant(self.access.tenant)
            .filter(endpoint=endpoint)
            .prefetch_related(Prefetch("attempt_log", queryset=attempts))
            .order_by("-id")
        )

    @extend_schema(
        responses={200: DeliveryOut(many=True), **_ERRORS}, operation_id="webhooks_deliveries_list"
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: int) -> Response:
        """The endpoint's deliveries, newest first, each with every attempt."""
        page = self.paginate_queryset(self._deliveries(self.get_object()))
        return self.get_paginated_response(DeliveryOut(page, many=True).data)

    @extend_schema(request=None, responses={202: DeliveryOut, **_ERRORS}, operation_id="webhooks_redeliver")
    @action(detail=True, methods=["post"], url_path="deliveries/<int:delivery_id>/redeliver")
    def redeliver(self, request: Request, pk: int, delivery_id: int) -> Response:
        """Send a delivery again now, with the same event id."""
        deliveries = self._deliveries(self.get_object())
        webhooks.redeliver(delivery=get_object_or_404(deliveries, pk=delivery_id), by=actor_of(self.access))
        return Response(DeliveryOut(deliveries.get(pk=delivery_id)).data, status=status.HTTP_202_ACCEPTED)
