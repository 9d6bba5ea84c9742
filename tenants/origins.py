"""Web origins a tenant allows to call the API from browsers: parsing and checking.

An origin is what a browser sends in its ``Origin`` header: ``scheme://host[:port]``,
lower-case, without the default port, with no path. Tenants' entries are stored in exactly
that form, so a request's origin is checked by plain membership, at no cost on the quote.

Only https origins are accepted, except for local development (localhost, 127.0.0.1,
[::1]), where http is fine. No wildcards: each storefront host is listed, so a subdomain
taken over elsewhere (a forgotten CNAME) cannot use the tenant's keys.
"""

import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

# Enough for a shop's storefronts, staging and local development; more suggests a wildcard
# is being emulated.
MAX_ALLOWED_ORIGINS = 20
# The longest host name DNS allows, plus scheme and port.
MAX_ORIGIN_LENGTH = 300
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _host_valid(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return host.endswith("]")
    labels = host.split(".")
    return len(host) <= 253 and all(_LABEL.match(label) for label in labels)


def origin_normalise(value: str) -> str:
    """``value`` as a browser would send it in ``Origin``; ValidationError if it is not an origin."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_ORIGIN_LENGTH:
        raise ValidationError("Enter an origin such as https://shop.example.com.", code="invalid_origin")
    if "*" in text:
        raise ValidationError(f"{text}: wildcards are not accepted; list each host.", code="origin_wildcard")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValidationError(f"{text}: not a valid origin.", code="invalid_origin") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise ValidationError(f"{text}: an origin has no user name or password.", code="invalid_origin")
    if parts.netloc and "@" not in parts.netloc and ":" in parts.netloc.rsplit("]", 1)[-1] and port is None:
        raise ValidationError(f"{text}: not a valid port.", code="invalid_origin")
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValidationError(
            f"{text}: an origin is scheme://host[:port], e.g. https://shop.example.com.",
            code="invalid_origin",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValidationError(
            f"{text}: an origin has no path, query or fragment; use {scheme}://{parts.netloc}.",
            code="origin_has_path",
        )
    if ":" in host:
        host = f"[{host}]"
    try:
        host = host.encode("idna").decode("ascii") if not host.startswith("[") else host
    except UnicodeError:
        raise ValidationError(f"{text}: not a valid host name.", code="invalid_origin") from None
    if not _host_valid(host):
        raise ValidationError(f"{text}: not a valid host name.", code="invalid_origin")
    if scheme != "https" and host not in LOCAL_HOSTS:
        raise ValidationError(
            f"{text}: only https origins are accepted (http only for localhost).", code="origin_not_https"
        )
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def origins_normalise(values: list[str]) -> list[str]:
    """Each origin normalised, duplicates dropped, order kept; one ValidationError for all problems."""
    if not isinstance(values, list):
        raise ValidationError("Send a list of origins.", code="invalid_origin")
    found: list[str] = []
    errors: list[ValidationError] = []
    for value in values:
        try:
            origin = origin_normalise(value)
        except ValidationError as error:
            errors.append(error)
            continue
        if origin not in found:
            found.append(origin)
    if errors:
        raise ValidationError(errors)
    if len(found) > MAX_ALLOWED_ORIGINS:
        raise ValidationError(
            f"At most {MAX_ALLOWED_ORIGINS} origins; this list has {len(found)}.", code="too_many_origins"
        )
    return found


def request_origin(origin_header: str | None) -> str | None:
    """The request's ``Origin`` in stored form, or None when it is absent, opaque or malformed."""
    if not origin_header or origin_header == "null":
        return None
    try:
        return origin_normalise(origin_header)
    except ValidationError:
        return None
