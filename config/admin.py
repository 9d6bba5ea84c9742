"""The staff admin's site: a password and a second factor (django-otp) for every staff member.

It is the default site (config.apps.AdminConfig), so every app's registrations land here.
A session logged in with a password alone (the customer login page, say) is not enough:
the admin treats it as not staff and asks for the code.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.http import HttpRequest
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.forms import OTPAuthenticationFormMixin

from tenants.forms import PasswordSetByService
from tenants.selectors import two_factor_device_for


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Email, password and one code: from the authenticator app, or a backup code."""

    otp_token = forms.CharField(
        required=False,
        label="Authentication code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )
    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": "Enter the 6-digit code from your authenticator app, or a backup code.",
        "invalid_token": "That code is not right. Codes change every 30 seconds and work once.",
        "device_required": (
            "This account has no two-factor set up yet. Set it up first (link below), "
            "or ask an operator to run manage.py staff_two_factor."
        ),
    }

    def clean_otp_token(self) -> str:
        # Backup codes are lower-case; people copy them with spaces or type them in capitals.
        return "".join((self.cleaned_data.get("otp_token") or "").split()).lower()

    def _chosen_device(self, user):
        # One field instead of django-otp's device menu: the code's shape tells which of the
        # person's own devices to check (digits: the app; letters too: a backup code). Only
        # that one device is tried, so a wrong code never throttles the other.
        return super()._chosen_device(user) or two_factor_device_for(
            user=user, token=self.cleaned_data.get("otp_token") or "", for_verify=True
        )


class StaffPasswordChangeForm(PasswordSetByService, AdminPasswordChangeForm):
    """The admin's own "change password" page, through the same service as everywhere."""


class AdminSite(OTPAdminSite):
    site_header = "Pricelab staff"
    site_title = "Pricelab staff"
    login_form = StaffLoginForm
    login_template = "admin/otp_login.html"
    password_change_form = StaffPasswordChangeForm

    def __init__(self, name: str = "admin") -> None:
        # OTPAdminSite names itself "otpadmin"; keep "admin" so reverse("admin:...") works.
        super().__init__(name)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that Stripe, the sync or a service write (invoices, events, the audit log):
    anyone who may see them only sees them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
