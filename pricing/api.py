import functools
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import metering, quotas, ratelimit
from billing.models import UsageDaily
from billing.selectors import Limits
from config.api import ErrorSerializer, StrictSerializer, batch_check, error_body, error_responses
from config.observability import tenant_set
from pricing import hotpath, quotes, realtime, selectors, services
from pricing.converters import SkuConverter
from pricing.models import PricePoint, Product
from pricing.money import format_amount
from tenants import apikeys
from tenants.authentication import own_origin
from tenants.mixins import TenantScopedAPIMixin
from tenants.models import KeyKind, Scope

SKU_PATTERN = rf"^{SkuConverter.regex}$"
_ERRORS = error_responses(not_found="No such product in this tenant.")
_ERRORS_LOCKED = error_responses(
    not_found="No such product in this tenant.",
    conflict="A running or paused experiment tests this product's price (experiment_running).",
)


class ExperimentRunning(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "experiment_running"


def _invalid(error: DjangoValidationError, fields: dict[str, str] | None = None) -> APIException:
    """The service's refusal in the API's terms; ``fields`` renames the service's field names
    to the request's (price_change says ``price``, the API's field is ``base_price``)."""
    if isinstance(error, services.PriceLocked):
        return ExperimentRunning(" ".join(error.messages))
    if not hasattr(error, "error_dict"):
        return ValidationError({"detail": error.messages})
    return ValidationError({(fields or {}).get(name, name): m for name, m in error.message_dict.items()})


@extend_schema_field({"oneOf": [{"type": "string", "example": "9.90"}, {"type": "number"}]})
class AmountField(serializers.Field):
    """A price: a JSON string ("9.90") or number, parsed as Decimal against the currency."""

    def to_internal_value(self, data: object) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise serializers.ValidationError('A price is a number or a string such as "9.90".')
        return str(data)

    def to_representation(self, value: object) -> str:
        return str(value)


class ProductOut(serializers.ModelSerializer):
    base_price = serializers.SerializerMethodField(help_text="In the currency's minor units, as a string.")

    class Meta:
        model = Product
        fields = ["sku", "name", "currency", "base_price", "active", "created_at", "updated_at"]

    def get_base_price(self, product: Product) -> str:
        return format_amount(product.base_price, product.currency)


class ProductIn(serializers.Serializer):
    sku = serializers.RegexField(SKU_PATTERN, help_text="Letters, digits, '.', '_' and '-'; up to 64.")
    name = serializers.CharField(max_length=200)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217, e.g. EUR.")
    base_price = AmountField()
    active = serializers.BooleanField(default=True)


class ProductPatch(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    active = serializers.BooleanField(required=False)
    base_price = AmountField(required=False, help_text="A new price: recorded in the history (source api).")


class PricePointOut(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    changed_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = PricePoint
        fields = ["id", "price", "currency", "valid_from", "source", "changed_by", "note"]

    def get_price(self, point: PricePoint) -> str:
        return format_amount(point.price, point.currency)


class HistoryFilter(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Changes at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Changes before this time.")


@extend_schema_view(
    list=extend_schema(responses={200: ProductOut(many=True), **_ERRORS}),
    retrieve=extend_schema(responses={200: ProductOut, **_ERRORS}),
    create=extend_schema(request=ProductIn, responses={201: ProductOut, **_ERRORS}),
    partial_update=extend_schema(request=ProductPatch, responses={200: ProductOut, **_ERRORS_LOCKED}),
)
class ProductViewSet(
    TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The tenant's products, addressed by sku. Reading needs ``read``; changes ``write``."""

    scoped_model = Product
    serializer_class = ProductOut
    lookup_field = "sku"
    lookup_value_converter = "sku"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create(self, request: Request) -> Response:
        """Create a product; its base price opens the price history."""
        data = ProductIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            product = services.product_create(tenant=self.access.tenant, **data.validated_data, **self._who())
        except DjangoValidationError as error:
            raise _invalid(error) from None
        return Response(ProductOut(product).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, sku: str) -> Response:
        """Rename, (de)activate, or change the base price (recorded in the history)."""
        product = self.get_object()
        data = ProductPatch(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            if "base_price" in fields:
                services.price_change(
                    product=product, price=fields["base_price"], source=self._source(), **self._who()
                )
            if "name" in fields or "active" in fields:
                services.product_update(
                    product=product, name=fields.get("name"), active=fields.get("active"), **self._who()
                )
        except DjangoValidationError as error:
            raise _invalid(error, fields={"price": "base_price"}) from None
        product.refresh_from_db()
        return Response(ProductOut(product).data)

    @extend_schema(
        parameters=[HistoryFilter],
        responses={200: PricePointOut(many=True), **_ERRORS},
        operation_id="products_prices_list",
    )
    @action(detail=True, methods=["get"], url_path="prices")
    def prices(self, request: Request, sku: str) -> Response:
        """The product's price history, newest first, filtered by time."""
        product = get_object_or_404(self.get_queryset(), sku=sku)
        filters = HistoryFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        points = selectors.price_history(product=product, **filters.validated_data)
        page = self.paginate_queryset(points)
        return self.get_paginated_response(PricePointOut(page, many=True).data)

    def _who(self) -> dict:
        return {"changed_by": self.access.user, "api_key_id": self.access.api_key_id}

    def _source(self) -> str:
        return PricePoint.Source.API if self.access.via == "api_key" else PricePoint.Source.MANUAL


# A storefront page asks for the products it shows; more than this is a bulk export.
QUOTE_MAX_PRODUCTS = 100


class QuoteIn(serializers.Serializer):
    VISITOR_ID_MAX, SKU_MAX = 200, 64

    visitor_id = serializers.CharField(max_length=VISITOR_ID_MAX, help_text="Your stable id for the visitor.")
    products = serializers.ListField(
        child=serializers.CharField(max_length=SKU_MAX), min_length=1, max_length=QUOTE_MAX_PRODUCTS
    )
    track = serializers.BooleanField(default=True, help_text="Record the exposure (first one counts).")


def _plain_text(value: object, limit: int) -> bool:
    """A string that QuoteIn's CharFields would take as it is: non-empty, short enough, ASCII
    (so no surrogates), no NUL, nothing for them to trim."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isascii()
        and "\x00" not in value
        and value == value.strip()
    )


def quote_input(data: object) -> dict | None:
    """The usual quote body, validated without building a serializer, or None for QuoteIn to judge.

    Building QuoteIn (DRF deep-copies its fields for every instance) cost a quote more CPU
    than its whole Redis round trip. Only what QuoteIn accepts unchanged is taken here; the
    rest, errors included, gets QuoteIn's own answer.
    """
    if type(data) is not dict:
        return None
    visitor_id, products, track = data.get("visitor_id"), data.get("products"), data.get("track", True)
    if (
        not _plain_text(visitor_id, QuoteIn.VISITOR_ID_MAX)
        or type(track) is not bool
        or type(products) is not list
    ):
        return None
    if not 0 < len(products) <= QUOTE_MAX_PRODUCTS or not all(
        _plain_text(p, QuoteIn.SKU_MAX) for p in products
    ):
        return None
    return {"visitor_id": visitor_id, "products": products, "track": track}


class QuoteQuery(serializers.Serializer):
    visitor_id = serializers.CharField(max_length=200)
    product = serializers.CharField(max_length=64)
    track = serializers.BooleanField(default=True)


class QuoteItemOut(serializers.Serializer):
    sku = serializers.CharField()
    price = serializers.CharField(allow_null=True, help_text="What this visitor sees.")
    currency = serializers.CharField(allow_null=True)
    experiment = serializers.CharField(
        allow_null=True, help_text="Key of the experiment, if the visitor is in one."
    )
    variant = serializers.CharField(allow_null=True)
    error = ErrorSerializer(allow_null=True, help_text="Set instead of a price, e.g. unknown_product.")


class QuoteOut(serializers.Serializer):
    visitor_id = serializers.CharField()
    items = QuoteItemOut(many=True)
    quota_exceeded = serializers.BooleanField(
        help_text="This month's units are used up: every price is the base price, experiments are skipped."
    )
    notice = ErrorSerializer(
        allow_null=True, help_text="Why prices are degraded (code quota_exceeded), or null."
    )


def _quote(view: APIView, request: Request, *, visitor_id: str, skus: list[str], track: bool) -> Response:
    """Meter the request, then price it: over the quota, at base prices without experiments."""
    access = request.access
    priced = hotpath.quote_priced(
        request=request._request,
        tenant_id=access.tenant.pk,
        limits=access.limits,
        visitor_id=visitor_id,
        skus=skus,
        track=track,
    )
    if isinstance(priced, hotpath.Priced):
        if priced.refused is not None:
            return priced.refused
        items, total, exceeded = priced.items, priced.total, priced.exceeded
    else:
        if priced.reauthenticate:
            # This process's copy of the key was stale (or Redis failed to confirm it):
            # judge the request again on the key as it is now.
            apikeys.local_forget(request._request)
            request._authenticate()
            view.check_permissions(request)
            access = request.access
        refused = ratelimit.count_deferred(request._request, per_minute=access.limits.requests_per_minute)
        if refused is not None:
            return refused
        total = metering.record(tenant_id=access.tenant.pk, kind=UsageDaily.Kind.QUOTE)
        exceeded = quotas.is_exceeded(access.limits, total)
        items = quotes.quote(
            tenant_id=access.tenant.pk,
            visitor_id=visitor_id,
            skus=skus,
            track=track,
            experiments=not exceeded,
        )
    return Response(_quote_answer(access.tenant.pk, access.limits, visitor_id, items, total, exceeded))


def _quote_answer(
    tenant_id: int, limits: Limits, visitor_id: str, items: list, total: int, exceeded: bool
) -> dict:
    quotas.after_metering(tenant_id=tenant_id, limits=limits, units=1, total=total)
    body = _quote_body(visitor_id, items)
    body["quota_exceeded"] = exceeded
    body["notice"] = error_body("quota_exceeded", quotas.exceeded_message(limits)) if exceeded else None
    return body


# What DRF's JSONRenderer (the only renderer) accepts without negotiating.
_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # as DRF's parser: no NaN or Infinity


def quote_direct(request: HttpRequest) -> HttpResponse | None:
    """POST /quote/ in its everyday form, answered without DRF's machinery; None: DRF answers.

    DRF's request wrapping, negotiation, authentication classes and rendering cost a quote
    several times a bare Django view's CPU (bench/quote.py). The everyday request (a key
    found in this process's copy whose rate limit was left to the quote, a plain JSON body,
    no special Accept) is answered here, with the bytes and headers DRF would send; anything
    else, including every error, goes through QuoteView unchanged. Called first by
    pricing.middleware, ahead of the page middlewares, then by the view.
    """
    held = getattr(request, "_apikey_local", None)
    if request.method != "POST" or held is None or ratelimit.deferred(request) is None:
        return None
    record = held.record
    if record.kind != KeyKind.PUBLISHABLE and Scope.READ not in record.scopes:
        return None
    if request.content_type != "application/json":
        return None
    origin = request.headers.get("Origin")
    if origin is not None and apikeys.browser_refusal(record, origin, own_origin(request)) is not None:
        # This process's copy may predate a change to the allowed origins: DRF authenticates
        # from the cache afresh, and refuses with the code and message if it still must.
        apikeys.local_forget(request)
        return None
    if request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return None  # DRF decodes other charsets itself
    if request.META.get("HTTP_ACCEPT", "") not in _PLAIN_ACCEPT:
        return None
    try:
        data = json.loads(request.body, parse_constant=_reject_constant)
    except Exception:
        return None  # DRF parses it again and gives its own answer (parse_error, too large)
    fields = quote_input(data)
    if fields is None:
        return None
    tenant_set(tenant_id=record.tenant_id, slug=record.tenant_slug)
    apikeys.note_used(record)
    priced = hotpath.quote_priced(
        request=request,
        tenant_id=record.tenant_id,
        limits=record.limits,
        visitor_id=fields["visitor_id"],
        skus=fields["products"],
        track=fields["track"],
    )
    if not isinstance(priced, hotpath.Priced):
        if priced.reauthenticate:
            apikeys.local_forget(request)  # DRF authenticates afresh
        return None
    if priced.refused is not None:
        response = priced.refused
    else:
        body = _quote_answer(
            record.tenant_id, record.limits, fields["visitor_id"], priced.items, priced.total, priced.exceeded
        )
        response = HttpResponse(_json_bytes(body), content_type="application/json")
    response["Allow"] = QUOTE_ALLOW
    return response


def _json_bytes(body: dict) -> bytes:
    """``body`` as DRF's JSONRenderer writes it with the default settings."""
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _quote_body(visitor_id: str, items: list) -> dict:
    out = []
    for item in items:
        row = {
            "sku": item.sku,
            "price": item.price,
            "currency": item.currency,
            "experiment": item.experiment,
            "variant": item.variant,
            "error": None,
        }
        if item.error:
            row["error"] = {
                "code": item.error,
                "message": "No active product with this sku.",
                "details": None,
            }
        out.append(row)
    return {"visitor_id": visitor_id, "items": out}


# DRF's Allow header for QuoteView.
QUOTE_ALLOW = "GET, POST, HEAD, OPTIONS"


class QuoteView(APIView):
    """The price each product has for one visitor. Needs the ``read`` scope, or a publishable key."""

    required_scopes = {"GET": Scope.READ, "POST": Scope.READ}
    publishable_methods = ("GET", "POST")

    @classmethod
    def as_view(cls, **initkwargs):
        """DRF's view, after the everyday quote is tried without DRF (``quote_direct``)."""
        drf_view = super().as_view(**initkwargs)

        @functools.wraps(drf_view)  # keeps cls, initkwargs and csrf_exempt for DRF and the schema
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return quote_direct(request) or drf_view(request, *args, **kwargs)

        return view

    @extend_schema(
        request=QuoteIn,
        responses={200: QuoteOut, **_ERRORS},
        operation_id="quote_create",
        examples=[
            OpenApiExample(
                "Two products for one visitor",
                value={"visitor_id": "visitor-42", "products": ["tea", "mug"], "track": True},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Quote several products. An unknown sku is reported in its item; the others are priced."""
        v = quote_input(request.data)
        if v is None:
            batch_check(request.data, field="products", limit=QUOTE_MAX_PRODUCTS)
            data = QuoteIn(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
        return _quote(self, request, visitor_id=v["visitor_id"], skus=v["products"], track=v["track"])

    @extend_schema(
        parameters=[QuoteQuery], responses={200: QuoteOut, **_ERRORS}, operation_id="quote_retrieve"
    )
    def get(self, request: Request) -> Response:
        """Quote one product: ``?visitor_id=...&product=sku``."""
        data = QuoteQuery(data=request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return _quote(self, request, visitor_id=v["visitor_id"], skus=[v["product"]], track=v["track"])


class RealtimeTokenOut(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds left to connect with it.")
    url = serializers.CharField(help_text="The WebSocket path to connect to, token included.")


class RealtimeTokenView(APIView):
    """Mint a short-lived token for a browser to open the live price feed."""

    required_scopes = {"POST": Scope.READ}

    @extend_schema(
        request=None, responses={201: RealtimeTokenOut, **_ERRORS}, operation_id="realtime_token_create"
    )
    def post(self, request: Request) -> Response:
        """A token for ``/ws/prices/?token=...``, valid for a few minutes; mint one per page view."""
        access = request.access
        token = realtime.token_mint(
            tenant_id=access.tenant.pk,
            api_key_id=access.api_key_id,
            user_id=access.user.pk if access.user else None,
        )
        body = {"token": token, "expires_in": realtime.TOKEN_TTL_SECONDS, "url": f"/ws/prices/?token={token}"}
        return Response(body, status=status.HTTP_201_CREATED)
