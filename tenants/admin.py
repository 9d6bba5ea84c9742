"""Staff admin for tenants, people and keys. Staff cross tenants, so querysets are unscoped."""

from contextvars import ContextVar

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse

from audit.actors import Actor
from audit.admin import AuditedAdminMixin
from tenants import services
from tenants.models import ApiKey, Invitation, Membership, Tenant, User


class UnscopedAdminMixin:
    """Staff see every tenant's rows: the explicit, greppable exception to scoping."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = self.model.objects.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset


class ReadOnlyInline(UnscopedAdminMixin, admin.TabularInline):
    """A record shown beside its parent: written by services, never edited in admin."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return list(self.fields)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _member_action(verb: str, changed: set[str]) -> str:
    """The same codes the team page's changes get."""
    if verb == "changed":
        return "member.role_changed" if "role" in changed else "member.changed"
    return {"created": "member.added", "deleted": "member.removed"}[verb]


class MembershipInline(UnscopedAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "status", "member_count", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    readonly_fields = ["status", "created_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "reactivate"]
    date_hierarchy = "created_at"
    audit_object = "tenant"

    def audit_inline_action(self, obj: Membership, verb: str, changed: set[str]) -> str:
        return _member_action(verb, changed)

    def audit_label(self, obj: Tenant | Membership) -> str:
        return obj.user.email if isinstance(obj, Membership) else obj.name

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, tenant: Tenant) -> int:
        return tenant.member_count

    def delete_model(self, request: HttpRequest, obj: Tenant) -> None:
        services.tenant_delete(tenant=obj, by=Actor.staff(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for tenant in queryset:
            services.tenant_delete(tenant=tenant, by=Actor.staff(request.user))

    @admin.action(
        description="Suspend selected tenants (their keys and members are refused)", permissions=["change"]
    )
    def suspend(self, request: HttpRequest, queryset: QuerySet) -> None:
        tenants = list(queryset.filter(status=Tenant.Status.ACTIVE))
        for tenant in tenants:
            services.tenant_suspend(tenant=tenant, by=Actor.staff(request.user))
        self.message_user(request, f"Suspended {len(tenants)} tenant(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected tenants", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        tenants = list(queryset.filter(status=Tenant.Status.SUSPENDED))
        for tenant in tenants:
            services.tenant_reactivate(tenant=tenant, by=Actor.staff(request.user))
        self.message_user(request, f"Reactivated {len(tenants)} tenant(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, UnscopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]

    def audit_action(self, obj: Membership, verb: str, changed: set[str]) -> str:
        return _member_action(verb, changed)

    def audit_label(self, obj: Membership) -> str:
        return obj.user.email


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, UnscopedAdminMixin, admin.ModelAdmin):
    """Keys by prefix and metadata. Staff issue keys with `manage.py apikey_create`,
    which prints the secret once; the admin never sees or stores one."""

    list_display = ["prefix", "name", "tenant", "scope_list", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["prefix", "name", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    fields = ["tenant", "name", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]
    audit_object = "apikey"

    @admin.display(description="Scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Keys are revoked, not deleted: the record of what a key did stays.
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        keys = list(queryset.filter(revoked_at=None))
        for key in keys:
            services.api_key_revoke(api_key=key, by=Actor.staff(request.user))
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)


@admin.register(Invitation)
class InvitationAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """Invitations for support: who invited whom, and what became of it. Their tokens exist
    only in the emails, so staff cannot send or accept one here; they can cancel it."""

    list_display = ["email", "tenant", "role", "status_label", "invited_by", "created_at", "expires_at"]
    list_filter = [
        "role",
        ("accepted_at", admin.EmptyFieldListFilter),
        ("cancelled_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["email", "tenant__name", "tenant__slug", "invited_by__email"]
    list_select_related = ["tenant", "invited_by"]
    fields = [
        "tenant", "email", "role", "invited_by", "created_at", "expires_at", "emailed_at",
        "accepted_at", "accepted_by", "cancelled_at",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["cancel"]

    @admin.display(description="Status")
    def status_label(self, invitation: Invitation) -> str:
        return Invitation.Status(invitation.status).label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        return False  # cancelled, not deleted: the record of who was let in stays

    @admin.action(
        description="Cancel selected invitations (their links stop working)", permissions=["change"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        invitations = list(queryset.filter(accepted_at=None, cancelled_at=None))
        for invitation in invitations:
            services.invitation_cancel(invitation=invitation, actor=None, by=Actor.staff(request.user))
        self.message_user(request, f"Cancelled {len(invitations)} invitation(s).", messages.SUCCESS)


class UserCreateForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


# The staff member on the "set password" page of another person, for the form to name.
_password_setter: ContextVar[Actor | None] = ContextVar("password_setter", default=None)


class StaffSetsPasswordForm(AdminPasswordChangeForm):
    """Staff giving someone a new password, or turning password sign-in off: through the
    services (their sessions and live feeds end, the audit log names the staff)."""

    def set_password_and_save(self, user: User, commit: bool = True, **kwargs: object) -> User:
        if not commit:
            return super().set_password_and_save(user, commit=commit, **kwargs)
        if self.cleaned_data["set_usable_password"]:
            return services.user_password_set(
                user=user, password=self.cleaned_data["password1"], by=_password_setter.get()
            )
        return services.user_password_disable(user=user, by=_password_setter.get())


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    """People. Changes are audited (who made whom staff, who set a password), never a password itself."""

    form = UserEditForm
    add_form = UserCreateForm
    change_password_form = StaffSetsPasswordForm
    ordering = ["email"]
    audit_object = "user"
    audit_exclude = ("last_login",)
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]})
    ]

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        token = _password_setter.set(Actor.staff(request.user))
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _password_setter.reset(token)
