"""API conventions shared by every app: the error shape and pagination."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, pagination, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# DRF's own codes for its exceptions, kept, except where a plainer name helps a client.
_RENAMED_CODES = {"invalid": "validation_error", "error": "error"}


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a PATCH must not answer 200 and ignore a change."""

    def validate(self, attrs: dict) -> dict:
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in sorted(unknown)}
            )
        return attrs


class ErrorSerializer(serializers.Serializer):
    """Every API error, whatever its status."""

    code = serializers.CharField(help_text="Machine-readable, stable: branch on this.")
    message = serializers.CharField(help_text="For humans; may change.")
    details = serializers.JSONField(
        allow_null=True, help_text="Per-field messages for validation errors, else null."
    )


def error_responses(
    not_found: str | None = None, invalid: bool = True, conflict: str | None = None
) -> dict[int, OpenApiResponse]:
    """The error answers an operation documents in the schema, all in the one error shape."""
    responses = {
        401: OpenApiResponse(ErrorSerializer, description="No or bad credentials."),
        403: OpenApiResponse(ErrorSerializer, description="Suspended tenant or missing scope."),
        413: OpenApiResponse(
            ErrorSerializer, description="The body is over the size limit (request_too_large)."
        ),
        429: OpenApiResponse(
            ErrorSerializer,
            description="Over the plan's requests a minute (rate_limited, with Retry-After); for "
            "event ingestion also this month's units used up (quota_exceeded).",
        ),
    }
    if invalid:
        responses[400] = OpenApiResponse(
            ErrorSerializer,
            description="Invalid input: validation_error (per-field messages in details), "
            "parse_error, batch_too_large.",
        )
        responses[415] = OpenApiResponse(
            ErrorSerializer, description="A body that is not JSON (unsupported_media_type)."
        )
    if conflict:
        responses[409] = OpenApiResponse(ErrorSerializer, description=conflict)
    if not_found:
        responses[404] = OpenApiResponse(ErrorSerializer, description=not_found)
    return responses


class BatchTooLarge(exceptions.APIException):
    """More items in one request than the operation takes: split the batch."""

    status_code = 400
    default_code = "batch_too_large"

    def __init__(self, *, field: str, limit: int) -> None:
        super().__init__(f"{field} takes at most {limit} items per request: send the rest in another.")
        self.details = {"field": field, "limit": limit}


def batch_check(data: object, *, field: str, limit: int) -> None:
    """Refuse a request whose ``field`` is a list longer than ``limit``, with its own code."""
    items = data.get(field) if isinstance(data, dict) else None
    if isinstance(items, list) and len(items) > limit:
        raise BatchTooLarge(field=field, limit=limit)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render DRF's exceptions as ``{"code", "message", "details"}``.

    Anything DRF does not know stays unhandled, so Django logs it, Sentry sees it and
    ``config.views.server_error`` answers a plain JSON 500 without a trace.
    """
    if isinstance(exc, Http404):
        # Missing and not-yours are one answer; the model name is nobody's business.
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            body = error_body("validation_error", "The request has invalid fields.", detail)
        else:
            items = detail if isinstance(detail, list) else [detail]
            code = getattr(items[0], "code", None) if items else None
            body = error_body(
                _RENAMED_CODES.get(code or "invalid", code or "validation_error"),
                " ".join(str(item) for item in items) or "The request is invalid.",
            )
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        body = error_body(str(code), str(detail), getattr(exc, "details", None))
    response.data = body
    return response


class InvalidCursor(exceptions.APIException):
    status_code = 400
    default_detail = "The cursor is not valid: use the next or previous link of a page."
    default_code = "invalid_cursor"


class CursorPagination(pagination.CursorPagination):
    """Stable pages over lists that grow while a client walks them (newest first)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def decode_cursor(self, request: Any) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise InvalidCursor() from None
        # The position is an id; anything else is a forged cursor, not a server error.
        if cursor is not None and cursor.position is not None and not str(cursor.position).isdigit():
            raise InvalidCursor()
        return cursor
