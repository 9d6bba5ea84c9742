from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from config.api import error_responses


class UsageOut(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Exclusive.")
    plan = serializers.CharField()
    used = serializers.IntegerField(
        help_text="Metered units this period: quote requests and accepted events."
    )
    limit = serializers.IntegerField(allow_null=True, help_text="Units included in the plan; null: no limit.")
    remaining = serializers.IntegerField(allow_null=True)
    overage = serializers.BooleanField(
        help_text="Whether units past the limit are billed instead of refused."
    )
    by_type = serializers.DictField(child=serializers.IntegerField())


class UsageView(APIView):
    @extend_schema(responses={200: UsageOut, **error_responses(invalid=False)}, operation_id="usage_retrieve")
    def get(self, request: Request) -> Response:
        """This month's metered usage by type, against the plan's limit (UTC calendar month)."""
        usage = selectors.usage_this_period(tenant=request.access.tenant)
        limit = usage.limits.monthly_units
        body = {
            "period_start": usage.period_start,
            "period_end": usage.period_end,
            "plan": usage.limits.plan,
            "used": usage.used,
            "limit": limit,
            "remaining": max(limit - usage.used, 0) if limit is not None else None,
            "overage": usage.limits.overage,
            "by_type": usage.by_kind,
        }
        return Response(UsageOut(body).data)
