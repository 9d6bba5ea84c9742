import datetime
import json
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from audit.actions import ACTIONS
from audit.api import STAFF_LABEL
from audit.forms import AuditFilterForm
from audit.models import ActorKind, AuditEntry
from audit.selectors import audit_filter
from tenants.mixins import TenantScopedViewMixin
from tenants.models import Scope

# Entries on one page. Pages go by id (older than / newer than), so a long log costs no
# COUNT(*) and new entries do not shift what a page shows.
ENTRIES_PER_PAGE = 50


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), datetime.UTC)


def _shown(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _changes(entry: AuditEntry) -> list[tuple[str, str | None, str | None]]:
    before, after = entry.before or {}, entry.after or {}
    return [(name, _shown(before.get(name)), _shown(after.get(name))) for name in {**before, **after}]


class AuditLogView(TenantScopedViewMixin, TemplateView):
    """The workspace's audit log, for owners and admins: who changed what, and when."""

    template_name = "audit/audit_log.html"
    scoped_model = AuditEntry
    required_scope = Scope.ADMIN

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = AuditFilterForm(request.GET)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, entries=[]), status=400)
        data = form.cleaned_data
        entries = audit_filter(
            self.get_queryset(),
            action=data["action"],
            actor=data["actor"],
            actor_kind=data["actor_kind"],
            object_type=data["object_type"],
            since=_day_start(data["since"]) if data["since"] else None,
            until=_day_start(data["until"] + datetime.timedelta(days=1)) if data["until"] else None,
        )
        if data["after"]:
            page = list(entries.filter(id__gt=data["after"]).order_by("id")[: ENTRIES_PER_PAGE + 1])
            more_newer, page = len(page) > ENTRIES_PER_PAGE, page[:ENTRIES_PER_PAGE][::-1]
            more_older = bool(page) and entries.filter(id__lt=page[-1].id).exists()
        else:
            if data["before"]:
                entries = entries.filter(id__lt=data["before"])
            page = list(entries[: ENTRIES_PER_PAGE + 1])
            more_older, page = len(page) > ENTRIES_PER_PAGE, page[:ENTRIES_PER_PAGE]
            more_newer = bool(data["before"]) and bool(page)
        for entry in page:
            entry.changes = _changes(entry)
            entry.description = ACTIONS.get(entry.action, entry.action)
            entry.staff = entry.actor_kind == ActorKind.STAFF
        filters = {
            name: request.GET[name]
            for name in ("action", "actor_kind", "actor", "object_type", "since", "until")
            if request.GET.get(name)
        }
        context = self.get_context_data(
            form=form,
            entries=page,
            filtered=bool(filters),
            staff_label=STAFF_LABEL,
            older=urlencode({**filters, "before": page[-1].id}) if more_older else "",
            newer=urlencode({**filters, "after": page[0].id}) if more_newer else "",
        )
        return self.render_to_response(context)
