from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import metering, quotas
from billing.models import UsageDaily
from config.api import ErrorSerializer, StrictSerializer, batch_check, error_responses
from experiments import ingest, services
from experiments.models import Experiment, Variant
from pricing.api import AmountField
from pricing.models import Product
from pricing.money import format_amount
from tenants.mixins import TenantScopedAPIMixin

_ERRORS = error_responses(not_found="No such experiment in this tenant.")
_CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Not allowed in the experiment's status.")}


# The column is a 32-bit integer; no test needs two billion visitors per variant.
MAX_SAMPLE_SIZE = 2**31 - 1


class InvalidTransition(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "invalid_transition"


def _service_errors(error: DjangoValidationError) -> exceptions.APIException:
    if isinstance(error, services.TransitionError):
        return InvalidTransition(" ".join(error.messages))
    if hasattr(error, "error_dict"):
        return exceptions.ValidationError(error.message_dict)
    return exceptions.ValidationError({"detail": error.messages})


class VariantOut(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    weight = serializers.FloatField()

    class Meta:
        model = Variant
        fields = ["key", "name", "price", "weight", "is_control"]

    def get_price(self, variant: Variant) -> str:
        return format_amount(variant.price, self.context["currency"])


class VariantIn(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200, required=False)
    price = AmountField()
    weight = serializers.DecimalField(max_digits=6, decimal_places=5, min_value=0, max_value=1)
    is_control = serializers.BooleanField(default=False)


class ExperimentOut(serializers.ModelSerializer):
    product = serializers.SlugRelatedField(slug_field="sku", read_only=True)
    coverage = serializers.FloatField()
    winner = serializers.SlugRelatedField(slug_field="key", read_only=True, allow_null=True)
    variants = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields = [
            "key", "name", "hypothesis", "product", "status", "seed", "coverage", "primary_metric",
            "end_at", "target_sample_size", "phase", "winner", "started_at", "completed_at",
            "created_at", "variants",
        ]  # fmt: skip

    def get_variants(self, experiment: Experiment) -> list[dict]:
        variants = Variant.objects.for_tenant(experiment.tenant_id).filter(experiment=experiment, active=True)
        return VariantOut(variants, many=True, context={"currency": experiment.product.currency}).data


class ExperimentIn(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    product = serializers.CharField(max_length=64, help_text="The product's sku.")
    variants = VariantIn(many=True)
    hypothesis = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    seed = serializers.CharField(required=False, max_length=100)
    coverage = serializers.DecimalField(max_digits=5, decimal_places=4, required=False)
    primary_metric = serializers.ChoiceField(choices=Experiment.Metric.choices, required=False)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    target_sample_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SAMPLE_SIZE
    )


class ExperimentPatch(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    hypothesis = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    variants = VariantIn(many=True, required=False)
    seed = serializers.CharField(required=False, max_length=100)
    coverage = serializers.DecimalField(max_digits=5, decimal_places=4, required=False)
    primary_metric = serializers.ChoiceField(choices=Experiment.Metric.choices, required=False)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    target_sample_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SAMPLE_SIZE
    )
    new_phase_reason = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Required to change variants, coverage or seed once started.",
    )


class CompleteIn(serializers.Serializer):
    winner = serializers.SlugField(
        max_length=64, required=False, allow_null=True, help_text="The winning variant's key."
    )
    rollout = serializers.BooleanField(default=True, help_text="Make the winner's price the product's price.")


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("status", enum=Experiment.Status.values)],
        responses={200: ExperimentOut(many=True), **_ERRORS},
    ),
    retrieve=extend_schema(responses={200: ExperimentOut, **_ERRORS}),
    create=extend_schema(request=ExperimentIn, responses={201: ExperimentOut, **_ERRORS}),
    partial_update=extend_schema(
        request=ExperimentPatch, responses={200: ExperimentOut, **_ERRORS, **_CONFLICT}
    ),
)
class ExperimentViewSet(
    TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Price experiments, addressed by key. Reading needs ``read``; the rest ``write``."""

    scoped_model = Experiment
    serializer_class = ExperimentOut
    lookup_field = "key"
    lookup_value_converter = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def refine_queryset(self, queryset):
        queryset = queryset.select_related("product", "winner")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in Experiment.Status.values:
                raise exceptions.ValidationError(
                    {"status": [f"One of {', '.join(Experiment.Status.values)}."]}
                )
            queryset = queryset.filter(status=wanted)
        return queryset

    def create(self, request: Request) -> Response:
        """Design an experiment (draft) on a product, with its variants."""
        batch_check(request.data, field="variants", limit=services.MAX_VARIANTS)
        data = ExperimentIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        product = Product.objects.for_tenant(self.access.tenant).filter(sku=fields.pop("product")).first()
        if product is None:
            raise exceptions.ValidationError({"product": ["No product with this sku."]})
        try:
            experiment = services.experiment_create(
                tenant=self.access.tenant, product=product, **fields, **self._who()
            )
        except DjangoValidationError as error:
            raise _service_errors(error) from None
        return Response(ExperimentOut(experiment).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, key: str) -> Response:
        """Change an experiment; once started, variants, coverage and seed need a new phase."""
        experiment = self.get_object()
        batch_check(request.data, field="variants", limit=services.MAX_VARIANTS)
        # Not partial: every field is optional already, and a variant given must be whole.
        data = ExperimentPatch(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            experiment = services.experiment_update(
                experiment=experiment, **self._who(), **data.validated_data
            )
        except DjangoValidationError as error:
            raise _service_errors(error) from None
        return Response(ExperimentOut(experiment).data)

    def _who(self) -> dict:
        """Who acts, for the price history, the phases and the audit log."""
        return {"changed_by": self.access.user, "api_key_id": self.access.api_key_id}

    def _step(self, step, **kwargs) -> Response:
        try:
            experiment = step(experiment=self.get_object(), **kwargs)
        except DjangoValidationError as error:
            raise _service_errors(error) from None
        return Response(ExperimentOut(experiment).data)

    @extend_schema(request=None, responses={200: ExperimentOut, **_ERRORS, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, key: str) -> Response:
        """Start or resume: the product's visitors are split between the variants."""
        return self._step(services.experiment_start, **self._who())

    @extend_schema(request=None, responses={200: ExperimentOut, **_ERRORS, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, key: str) -> Response:
        """Pause: every visitor gets the base price until the experiment is resumed."""
        return self._step(services.experiment_pause, **self._who())

    @extend_schema(request=CompleteIn, responses={200: ExperimentOut, **_ERRORS, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, key: str) -> Response:
        """End the experiment; with a winner and rollout its price becomes the product's price."""
        data = CompleteIn(data=request.data)
        data.is_valid(raise_exception=True)
        return self._step(
            services.experiment_complete,
            winner_key=data.validated_data.get("winner"),
            rollout=data.validated_data["rollout"],
            **self._who(),
        )

    @extend_schema(request=None, responses={200: ExperimentOut, **_ERRORS, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, key: str) -> Response:
        """Archive a draft or completed experiment."""
        return self._step(services.experiment_archive, **self._who())

    @extend_schema(responses={200: OpenApiResponse(description="Results of the current phase."), **_ERRORS})
    @action(detail=True, methods=["get"])
    def results(self, request: Request, key: str) -> Response:
        """Results of the current phase.

        Per variant: visitors (first exposures), converting visitors, conversion rate,
        revenue and revenue per visitor. Against control, for each metric: relative uplift
        with a 95 % interval and p-value (delta method, Welch's t-test with
        Welch-Satterthwaite degrees of freedom), and chance to beat control (normal
        posterior on the relative uplift, flat prior). ``srm``: chi-square test of visitors
        against the weights, a mismatch below p = 0.001. Conversions of visitors never
        exposed in the phase are counted in ``unattributed_conversions`` and left out.
        A phase with 100,000 visitors or more is answered from results computed in the
        background at most two minutes before (``computed_at``).
        """
        return Response(services.results_current(experiment=self.get_object()))


class EventList(serializers.ListField):
    """A list of JSON values taken as they are: each item is judged alone by the ingestion.

    ListField would run its child field on every item; for JSONField that means a
    json.dumps of each event just to learn that parsed JSON is JSON.
    """

    def run_child_validation(self, data: list) -> list:
        return list(data)


class EventsIn(serializers.Serializer):
    events = EventList(
        child=serializers.JSONField(allow_null=True),  # a null item is rejected alone
        max_length=ingest.MAX_EVENTS,
        help_text=(
            "Up to 1,000 items: {type: exposure|conversion, visitor_id, experiment (key) or "
            "product (sku), revenue (conversion), idempotency_key, timestamp (ISO 8601)}."
        ),
    )


class RejectedOut(serializers.Serializer):
    index = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()


class EventsOut(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = RejectedOut(many=True)


class QuotaExceeded(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "quota_exceeded"
    default_detail = "This month's metered units are used up."


class EventsView(APIView):
    """Exposures and conversions. Needs ``write``, or a publishable key (from a storefront's pages)."""

    publishable_methods = ("POST",)

    @extend_schema(request=EventsIn, responses={200: EventsOut, **_ERRORS}, operation_id="events_create")
    def post(self, request: Request) -> Response:
        """Record a batch. Good items are stored even when others are rejected."""
        batch_check(request.data, field="events", limit=ingest.MAX_EVENTS)
        data = EventsIn(data=request.data)
        data.is_valid(raise_exception=True)
        tenant_id, limits = request.access.tenant.pk, request.access.limits
        if quotas.is_used_up(limits, metering.month_total(tenant_id=tenant_id)):
            raise QuotaExceeded(quotas.exceeded_message(limits))
        result = ingest.events_ingest(tenant_id=tenant_id, events=data.validated_data["events"])
        total = metering.record(tenant_id=tenant_id, kind=UsageDaily.Kind.EVENT, units=result.accepted)
        quotas.after_metering(tenant_id=tenant_id, limits=limits, units=result.accepted, total=total)
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": len(result.rejected),
                "errors": result.rejected,
            }
        )
