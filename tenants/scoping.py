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
from django.db.models.sql import Query
from django.db.models.sql.where import AND, WhereNode


class TenantScopeError(RuntimeError):
    """A query on tenant-owned rows did not say which tenant it is for."""


def _pins_tenant(node: WhereNode, query: Query) -> bool:
    """True if this AND-ed WHERE node requires the queried table's own ``tenant_id`` to
    equal one plain value (not a joined table's column, not an expression such as F())."""
    if node.negated or (node.connector != AND and len(node.children) > 1):
        return False
    concrete = query.model._meta.concrete_model
    for child in node.children:
        if isinstance(child, WhereNode):
            if _pins_tenant(child, query):
                return True
        elif (
            isinstance(child, Exact)
            and isinstance(child.lhs, Col)
            and child.lhs.alias == query.base_table
            and child.lhs.target.attname == "tenant_id"
            and child.lhs.target.model._meta.concrete_model is concrete
            and child.rhs is not None
            and not hasattr(child.rhs, "resolve_expression")
        ):
            return True
    return False


def _check(query: Query) -> None:
    if getattr(query, "tenant_unscoped", False) or _pins_tenant(query.where, query):
        return
    raise TenantScopeError(
        f"Query on {query.model.__name__} is not scoped to a tenant: use "
        f".for_tenant(tenant), or .unscoped() where crossing tenants is intended."
    )


class TenantQuery(Query):
    """A SELECT that refuses to compile unless it is scoped.

    Every SELECT reaches the database through ``get_compiler``, including subqueries
    (``Subquery``, ``Exists``, ``__in=queryset``), each part of a ``union()`` and async
    iteration, so this one check covers them all.
    """

    tenant_unscoped = False

    def get_compiler(self, using: Any = None, connection: Any = None, elide_empty: bool = True) -> Any:
        _check(self)
        return super().get_compiler(using, connection, elide_empty)


class TenantQuerySet(models.QuerySet):
    def __init__(self, model: Any = None, query: Query | None = None, **kwargs: Any) -> None:
        super().__init__(model=model, query=query or TenantQuery(model), **kwargs)

    def for_tenant(self, tenant: Any) -> Self:
        """Rows of one tenant (a Tenant or its id)."""
        return self.filter(tenant=tenant)

    def unscoped(self) -> Self:
        """Rows of every tenant: staff tools and cross-tenant jobs only."""
        clone = self._chain()
        clone.query.tenant_unscoped = True
        return clone

    # UPDATE and DELETE switch the query to another class, so they are checked here.
    def update(self, **kwargs: Any) -> int:
        _check(self.query)
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        _check(self.query)
        return super().delete()


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class TenantOwnedModel(models.Model):
    """Base for every row that belongs to one tenant (DESIGN rule 1)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="%(class)ss")

    objects = TenantManager()

    class Meta:
        abstract = True
