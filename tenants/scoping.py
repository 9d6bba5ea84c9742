"""Tenant scoping: the one place that decides whether a query may touch tenant rows.

Every tenant-owned model inherits :class:`TenantOwnedModel`. Its default manager hands
out :class:`TenantQuerySet`, which refuses to run a query whose WHERE clause does not
pin ``tenant_id`` to a single value. So ``Product.objects.filter(sku="x")`` raises
:class:`TenantScopeError` when evaluated, while ``Product.objects.for_tenant(t)``, a
related manager such as ``tenant.api_keys`` and any ``filter(tenant=...)`` work.
Code that really must cross tenants (staff admin, authentication by key prefix, crons
that walk every tenant) says so with ``.unscoped()``, which is easy to grep for.

Django's own internals (forward foreign-key access, deletion cascades, ``save()``) use
the model's base manager, which is a plain manager and unaffected.
"""

from typing import Any, Self

from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND, WhereNode


class TenantScopeError(RuntimeError):
    """A query on tenant-owned rows did not say which tenant it is for."""


def _pins_tenant(node: WhereNode) -> bool:
    """True if this AND-ed WHERE node requires ``tenant_id`` to equal one value."""
    if node.negated or (node.connector != AND and len(node.children) > 1):
        return False
    for child in node.children:
        if isinstance(child, WhereNode):
            if _pins_tenant(child):
                return True
        elif (
            isinstance(child, Exact)
            and isinstance(child.lhs, Col)
            and child.lhs.target.attname == "tenant_id"
            and child.rhs is not None
        ):
            return True
    return False


class TenantQuerySet(models.QuerySet):
    _unscoped = False

    def for_tenant(self, tenant: Any) -> Self:
        """Rows of one tenant (a Tenant or its id)."""
        return self.filter(tenant=tenant)

    def unscoped(self) -> Self:
        """Rows of every tenant: staff tools and cross-tenant jobs only."""
        clone = self._chain()
        clone._unscoped = True
        return clone

    def _clone(self) -> Self:
        clone = super()._clone()
        clone._unscoped = self._unscoped
        return clone

    def _check_scope(self) -> None:
        if self._unscoped or _pins_tenant(self.query.where):
            return
        raise TenantScopeError(
            f"Query on {self.model.__name__} is not scoped to a tenant: use "
            f".for_tenant(tenant), or .unscoped() where crossing tenants is intended."
        )

    # Every way a queryset reaches the database passes through one of these.
    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scope()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any) -> Any:
        self._check_scope()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        if self._result_cache is None:
            self._check_scope()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._check_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scope()
        return super().delete()

    def explain(self, **options: Any) -> str:
        self._check_scope()
        return super().explain(**options)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class TenantOwnedModel(models.Model):
    """Base for every row that belongs to one tenant (DESIGN rule 1)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="%(class)ss")

    objects = TenantManager()

    class Meta:
        abstract = True
