"""Request ids, tenant tags and secret scrubbing for logs and Sentry.

Every request gets an id (a valid incoming ``X-Request-ID`` from the proxy, or a new one),
which goes back in the response, onto every log line written while it is handled, onto
Sentry events as the ``request_id`` tag, and into the headers of every Celery task it
queues, so that a task's log lines and errors name the request that caused them. The
tenant, once a request or a connection is authenticated, is tagged the same way.

Nothing that looks like a secret leaves the process in a log line or a Sentry event:
``scrub`` replaces API keys (``pl_...``, and publishable ``pk_...``), Stripe keys
(``sk_``/``rk_``) and webhook secrets (``whsec_``) in any text, and values under keys such
as Authorization, Cookie or password in any mapping.
"""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import sentry_sdk
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy may send as a request id: UUIDs, hex, and the like. Anything else (too
# long, odd characters that could forge log lines) is replaced with an id of our own.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")
# Task headers carrying the context from the request that queued a task.
TASK_HEADER_REQUEST_ID = "pricelab_request_id"
TASK_HEADER_TENANT_ID = "pricelab_tenant_id"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
tenant_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("tenant_id", default=None)

FILTERED = "[Filtered]"
# Secrets by their shape, wherever they appear in a text. An API key's visible prefix
# (pl_3f9Ka2Qx) is kept: it is shown in lists anyway and says which key was used.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(pl_[A-Za-z0-9]{8})_[A-Za-z0-9]{20,}"), rf"\1_{FILTERED}"),
    (re.compile(r"\bpk_(?:live_|test_)?[A-Za-z0-9_]{8,}"), FILTERED),
    (re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), FILTERED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), FILTERED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {FILTERED}"),
]
# Mapping keys whose values are secrets whatever they look like (compared lowercased,
# with '-' as '_').
_SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "http_authorization",
        "http_cookie",
        "password",
        "password1",
        "password2",
        "new_password1",
        "new_password2",
        "old_password",
        "secret",
        "api_key",
        "key",
        "token",
        "csrfmiddlewaretoken",
        "x_csrftoken",
        "stripe_signature",
        "http_stripe_signature",
        "webhook_secret",
        "signing_secret",
        "secret_key",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "sessionid",
        "csrftoken",
    }
)
# Nesting deeper than this is cut rather than walked (events are bounded by Sentry anyway).
_MAX_DEPTH = 20


def scrub_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in _SECRET_KEYS


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (str, mapping, list, tuple) with secrets replaced."""
    if depth > _MAX_DEPTH:
        return FILTERED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: FILTERED if _secret_key(k) else scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        # Sentry sends headers and cookies as [name, value] pairs too.
        if len(value) == 2 and _secret_key(value[0]):
            return [value[0], FILTERED]
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(scrub(list(value), depth + 1))
    return value


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's last look at an error or a transaction: secrets out, wherever they are."""
    return scrub(event)


def sentry_before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Breadcrumbs carry log messages and Redis commands: the same scrubbing."""
    return scrub(crumb)


# --- Logging --------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` and ``tenant_id`` to every record ("-" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        tenant_id = tenant_id_var.get()
        record.tenant_id = tenant_id if tenant_id is not None else "-"
        return True


class ScrubFilter(logging.Filter):
    """Replaces secrets in a record's message and its traceback before any handler writes it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        return True


# --- Context: request id and tenant -------------------------------------------------------


def tenant_set(*, tenant_id: int, slug: str = "") -> None:
    """The tenant the current request, task or connection acts for: in logs, Sentry and tasks."""
    tenant_id_var.set(tenant_id)
    sentry_sdk.set_tag("tenant", slug or str(tenant_id))
    sentry_sdk.set_tag("tenant_id", str(tenant_id))


def request_id_set(request_id: str) -> None:
    request_id_var.set(request_id)
    sentry_sdk.set_tag("request_id", request_id)


def request_id_from(incoming: str | None) -> str:
    """The incoming id if it is a plausible one, else a new one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every request an id: in the response, the logs, Sentry and the tasks it queues."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token = request_id_var.set(request_id)
        tenant_token = tenant_id_var.set(None)
        sentry_sdk.set_tag("request_id", request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(id_token)
            tenant_id_var.reset(tenant_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


# --- Celery: the context travels in task headers ----------------------------------------------


@before_task_publish.connect
def _task_headers_add(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is None:
        return
    request_id, tenant_id = request_id_var.get(), tenant_id_var.get()
    if request_id is not None:
        headers.setdefault(TASK_HEADER_REQUEST_ID, request_id)
    if tenant_id is not None:
        headers.setdefault(TASK_HEADER_TENANT_ID, tenant_id)


def _task_header(task: Any, name: str) -> Any:
    request = task.request
    value = getattr(request, name, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(name)  # eager runs keep them here
    return value


_task_tokens: dict[str, tuple[contextvars.Token, contextvars.Token]] = {}


@task_prerun.connect
def _task_context_set(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None or task_id is None:
        return
    request_id = _task_header(task, TASK_HEADER_REQUEST_ID)
    tenant_id = _task_header(task, TASK_HEADER_TENANT_ID)
    # A task queued outside a request (beat) gets an id of its own for its log lines; an
    # eager task run inside a request keeps the request's.
    request_id = request_id or request_id_var.get() or f"task-{task_id}"
    tokens = (request_id_var.set(request_id), tenant_id_var.set(tenant_id or tenant_id_var.get()))
    _task_tokens[task_id] = tokens
    sentry_sdk.set_tag("request_id", request_id)
    sentry_sdk.set_tag("task", task.name)
    if tenant_id_var.get() is not None:
        sentry_sdk.set_tag("tenant_id", str(tenant_id_var.get()))
        sentry_sdk.set_tag("tenant", str(tenant_id_var.get()))


@task_postrun.connect
def _task_context_reset(task_id: str | None = None, **kwargs: Any) -> None:
    tokens = _task_tokens.pop(task_id or "", None)
    if tokens is not None:
        try:
            request_id_var.reset(tokens[0])
            tenant_id_var.reset(tokens[1])
        except ValueError:
            pass  # set in another context (a thread hop): nothing of ours to restore here
