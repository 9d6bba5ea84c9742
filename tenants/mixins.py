"""The two doors to tenant rows: one mixin for API views, one for web views.

Both build querysets from ``scoped_model.objects.for_tenant(<caller's tenant>)`` and
refuse, when the class is defined, a subclass that overrides ``get_queryset`` or sets
``queryset``: a view narrows its rows in ``refine_queryset``, which only ever sees the
tenant's own. An object of another tenant is therefore simply not found (404).
"""

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from tenants.access import Access, session_access
from tenants.models import Scope


class _ScopedQuerysetMixin:
    scoped_model: type[Model]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for forbidden in ("get_queryset", "queryset"):
            if forbidden in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not define {forbidden}: set scoped_model and "
                    f"narrow rows in refine_queryset(queryset), which receives the tenant's rows."
                )

    @property
    def access(self) -> Access:
        return self.request.access  # type: ignore[attr-defined]

    def get_queryset(self) -> QuerySet:
        queryset = self.scoped_model.objects.for_tenant(self.access.tenant)  # type: ignore[attr-defined]
        return self.refine_queryset(queryset)

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset


class TenantScopedAPIMixin(_ScopedQuerysetMixin):
    """For DRF generic views and viewsets. ``request.access`` is set by HasTenantScope."""


class TenantScopedViewMixin(LoginRequiredMixin, _ScopedQuerysetMixin):
    """For web views: a logged-in member of an active tenant, with ``required_scope``."""

    required_scope: str = Scope.READ

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        access = session_access(request)
        if access is None or not access.tenant.is_active:
            raise PermissionDenied("No active tenant.")
        if self.required_scope not in access.scopes:
            raise PermissionDenied(f"Your role cannot do this (needs {self.required_scope}).")
        request.access = access  # type: ignore[attr-defined]
        return super().dispatch(request, *args, **kwargs)
