from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import actor_of
from config.api import ErrorSerializer, StrictSerializer, error_responses
from tenants import services
from tenants.mixins import TenantScopedAPIMixin
from tenants.models import ApiKey, KeyKind, Scope, Tenant
from tenants.origins import MAX_ALLOWED_ORIGINS, MAX_ORIGIN_LENGTH

_ERRORS = error_responses(invalid=False)


class TenantOut(serializers.ModelSerializer):
    scopes = serializers.SerializerMethodField(help_text="What the caller may do here.")
    via = serializers.SerializerMethodField(help_text="How the caller authenticated.")
    allowed_origins = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Web origins whose pages may use the publishable keys.",
    )

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "status", "created_at", "allowed_origins", "scopes", "via"]

    def get_scopes(self, tenant: Tenant) -> list[str]:
        return sorted(self.context["access"].scopes)

    def get_via(self, tenant: Tenant) -> str:
        return self.context["access"].via


class TenantIn(StrictSerializer):
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ORIGIN_LENGTH, trim_whitespace=True),
        max_length=MAX_ALLOWED_ORIGINS,
        help_text="The whole list, replacing the old one: https://host[:port] each (http only for "
        "localhost), no paths, no wildcards. Pages on these origins may use the publishable keys.",
    )


class TenantView(APIView):
    required_scopes = {"GET": Scope.READ, "PATCH": Scope.ADMIN}

    @extend_schema(responses={200: TenantOut, **_ERRORS}, operation_id="tenant_retrieve")
    def get(self, request: Request) -> Response:
        """The caller's tenant, and the scopes the caller holds in it."""
        access = request.access
        # The key's cached record holds only what authentication needs; read the row.
        tenant = get_object_or_404(Tenant, pk=access.tenant.pk)
        return Response(TenantOut(tenant, context={"access": access}).data)

    @extend_schema(
        request=TenantIn,
        responses={200: TenantOut, **error_responses()},
        operation_id="tenant_partial_update",
    )
    def patch(self, request: Request) -> Response:
        """Set the allowed browser origins (for publishable keys). Needs ``admin``."""
        data = TenantIn(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = get_object_or_404(Tenant, pk=request.access.tenant.pk)
        try:
            services.tenant_origins_set(
                tenant=tenant, origins=data.validated_data["allowed_origins"], by=actor_of(request.access)
            )
        except DjangoValidationError as exc:
            raise ValidationError({"allowed_origins": exc.messages}) from None
        return Response(TenantOut(tenant, context={"access": request.access}).data)


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "kind", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedOut(ApiKeyOut):
    secret = serializers.CharField(help_text="The whole key. Shown in this response only.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "secret"]


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(
        choices=KeyKind.choices,
        default=KeyKind.SECRET,
        help_text="secret (pl_..., for servers, with scopes) or publishable (pk_..., for web pages: "
        "quote and events only, from the allowed origins).",
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        min_length=1,
        max_length=len(Scope.choices),
        required=False,
        help_text="Secret keys only. Defaults to read and write (those of them the caller holds). "
        "A caller can grant only scopes it holds.",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["kind"] == KeyKind.PUBLISHABLE and "scopes" in attrs:
            raise serializers.ValidationError(
                {"scopes": ["Publishable keys take no scopes: they can only quote and send events."]}
            )
        return attrs


@extend_schema_view(
    # A forged ?cursor= is a 400 (invalid_cursor).
    list=extend_schema(responses={200: ApiKeyOut(many=True), **error_responses()}),
    retrieve=extend_schema(responses={200: ApiKeyOut, 404: ErrorSerializer, **_ERRORS}),
    create=extend_schema(
        request=ApiKeyIn,
        responses={201: ApiKeyCreatedOut, 400: ErrorSerializer, **_ERRORS},
    ),
    destroy=extend_schema(responses={204: None, 404: ErrorSerializer, **_ERRORS}),
)
class ApiKeyViewSet(
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The tenant's API keys. Listing needs ``read``; issuing and revoking need ``admin``."""

    scoped_model = ApiKey
    serializer_class = ApiKeyOut
    lookup_value_converter = "int"
    required_scopes = {"POST": Scope.ADMIN, "DELETE": Scope.ADMIN}

    def refine_queryset(self, queryset):
        return queryset.order_by("-id")

    def create(self, request: Request) -> Response:
        """Issue a key. The response carries the secret once; only a hash is kept."""
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        kind = data.validated_data["kind"]
        default = {Scope.READ, Scope.WRITE} & self.access.scopes if kind == KeyKind.SECRET else set()
        scopes = set(data.validated_data.get("scopes", default))
        beyond = scopes - self.access.scopes
        if beyond:
            raise ValidationError(
                {"scopes": [f"You cannot grant scopes you do not hold: {', '.join(sorted(beyond))}."]}
            )
        try:
            key, secret = services.api_key_create(
                tenant=self.access.tenant,
                name=data.validated_data["name"],
                scopes=scopes,
                kind=kind,
                created_by=self.access.user,
                by=actor_of(self.access),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        key.secret = secret
        return Response(ApiKeyCreatedOut(key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Revoke a key. It stops working at once; it stays listed with its revocation time."""
        services.api_key_revoke(api_key=self.get_object(), by=actor_of(self.access))
        return Response(status=status.HTTP_204_NO_CONTENT)
