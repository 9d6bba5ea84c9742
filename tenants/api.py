from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import actor_of
from config.api import ErrorSerializer, error_responses
from tenants import services
from tenants.mixins import TenantScopedAPIMixin
from tenants.models import ApiKey, Scope, Tenant

_ERRORS = error_responses(invalid=False)


class TenantOut(serializers.ModelSerializer):
    scopes = serializers.SerializerMethodField(help_text="What the caller may do here.")
    via = serializers.SerializerMethodField(help_text="How the caller authenticated.")

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "status", "created_at", "scopes", "via"]

    def get_scopes(self, tenant: Tenant) -> list[str]:
        return sorted(self.context["access"].scopes)

    def get_via(self, tenant: Tenant) -> str:
        return self.context["access"].via


class TenantView(APIView):
    @extend_schema(responses={200: TenantOut, **_ERRORS}, operation_id="tenant_retrieve")
    def get(self, request: Request) -> Response:
        """The caller's tenant, and the scopes the caller holds in it."""
        access = request.access
        # The key's cached record holds only what authentication needs; read the row.
        tenant = get_object_or_404(Tenant, pk=access.tenant.pk)
        return Response(TenantOut(tenant, context={"access": access}).data)


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedOut(ApiKeyOut):
    secret = serializers.CharField(help_text="The whole key. Shown in this response only.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "secret"]


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        min_length=1,
        required=False,
        help_text="Defaults to read and write (those of them the caller holds). "
        "A caller can grant only scopes it holds.",
    )


@extend_schema_view(
    list=extend_schema(responses={200: ApiKeyOut(many=True), **_ERRORS}),
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
        default = {Scope.READ, Scope.WRITE} & self.access.scopes
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
