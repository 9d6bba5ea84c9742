"""Sentry, set up in one function that settings call and tests can call with their own transport."""

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.redis import RedisIntegration

from config.observability import sentry_before_breadcrumb, sentry_before_send


def init_sentry(
    dsn: str,
    *,
    environment: str = "production",
    release: str | None = None,
    traces_sample_rate: float = 0.0,
    transport: Any = None,
) -> None:
    """Send errors from web, Celery and Channels to Sentry, with every secret scrubbed out.

    ``transport`` replaces how events are sent (tests capture them); everything else is
    the real SDK.
    """
    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        traces_sample_rate=traces_sample_rate,
        # Request bodies, cookies and query data may carry API keys and customer data: the
        # SDK leaves them out (headers go through its denylist), and before_send scrubs what
        # remains (messages, frame variables, breadcrumbs) by the shape of our secrets.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "database_query_data": False,
            "queues": False,
        },
        before_send=sentry_before_send,
        before_send_transaction=sentry_before_send,
        before_breadcrumb=sentry_before_breadcrumb,
        **options,
    )
