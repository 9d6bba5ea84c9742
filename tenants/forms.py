from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from config.once import SubmitOnceForm
from tenants import services
from tenants.models import KeyKind, Role, Scope, User
from tenants.origins import MAX_ALLOWED_ORIGINS, MAX_ORIGIN_LENGTH, origins_normalise


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class PasswordSetByService:
    """For Django's password forms: the new password is set by tenants.services, which also
    closes the person's live feeds and lifts lockouts (validation stays the form's, with
    each validator's message beside the field)."""

    def set_password_and_save(
        self,
        user: User,
        password_field_name: str = "password1",  # noqa: S107  (a field's name, not a password)
        commit: bool = True,
    ):
        if not commit:
            return super().set_password_and_save(user, password_field_name, commit=False)
        return services.user_password_set(user=user, password=self.cleaned_data[password_field_name])


class NewPasswordForm(PasswordSetByService, SetPasswordForm):
    """Choosing a new password from an emailed reset link."""


class ChangePasswordForm(PasswordSetByService, PasswordChangeForm):
    """Changing one's password on the account page, with the current one."""


class PasswordConfirmForm(forms.Form):
    """Re-entering one's password before something sensitive (setting up two-factor).
    It goes through authenticate(), so wrong guesses count toward the login lockout."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args, request: HttpRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        if authenticate(self.request, username=user.email, password=password) != user:
            raise forms.ValidationError("That is not your password.")
        return password


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code from the app",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class SignupForm(forms.Form):
    name = forms.CharField(
        label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    tenant_name = forms.CharField(
        label="Company or shop name",
        max_length=100,
        help_text="Your workspace: its products, experiments and API keys.",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Log in instead.")
        return email

    def clean(self) -> dict:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email", ""), name=cleaned.get("name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class TenantForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=100)


class ApiKeyForm(SubmitOnceForm):
    name = forms.CharField(label="Name", max_length=100, help_text="What the key is for, e.g. “Storefront”.")
    kind = forms.ChoiceField(
        label="Kind",
        choices=[
            (KeyKind.SECRET, "Secret (pl_…): for your servers, with the scopes below"),
            (KeyKind.PUBLISHABLE, "Publishable (pk_…): for web pages, quote and events only"),
        ],
        initial=KeyKind.SECRET,
        required=False,  # absent means secret, as keys were before there were kinds
        widget=forms.RadioSelect,
        help_text="Secret keys are refused from browsers. Publishable keys work only from the "
        "allowed origins below, and ignore scopes.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=Scope.choices,
        initial=[Scope.READ, Scope.WRITE],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Read to quote and look; write to change prices and send events; admin to manage keys.",
    )

    def __init__(self, *args, held: frozenset[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.held = held

    def clean(self) -> dict:
        cleaned = super().clean()
        cleaned["kind"] = cleaned.get("kind") or KeyKind.SECRET
        if cleaned["kind"] == KeyKind.PUBLISHABLE:
            cleaned["scopes"] = []  # the form ticks read and write by default: not an error here
            return cleaned
        scopes = cleaned.get("scopes")
        if "scopes" in self.errors:
            return cleaned
        if not scopes:
            self.add_error("scopes", "A secret key needs at least one scope.")
            return cleaned
        beyond = set(scopes) - self.held
        if beyond:
            self.add_error("scopes", f"You cannot grant scopes you do not hold: {', '.join(sorted(beyond))}.")
        return cleaned


class OriginsForm(forms.Form):
    origins = forms.CharField(
        label="Allowed origins",
        required=False,
        max_length=MAX_ALLOWED_ORIGINS * (MAX_ORIGIN_LENGTH + 2),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "off"}),
        help_text="One a line, e.g. https://shop.example.com. Pages on these origins may call the API "
        "with a publishable key. https only (http for localhost); no paths, no wildcards.",
    )

    def clean_origins(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["origins"].splitlines() if line.strip()]
        try:
            return origins_normalise(lines)
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from None


# What each role may do, in the words the team page shows beside the role picker.
ROLE_HELP = {
    Role.OWNER: "Everything, including making and removing owners.",
    Role.ADMIN: "Everything but owners: billing, API keys, webhooks and the team.",
    Role.MEMBER: "Products, prices and experiments. No keys, webhooks, billing or team.",
    Role.VIEWER: "Sees everything, changes nothing.",
}


def _role_choices(grantable: list[str]) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if value in grantable]


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@company.com"}),
    )
    role = forms.ChoiceField(label="Role", initial=Role.MEMBER)

    def __init__(self, *args, grantable: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(grantable)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args, grantable: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(grantable)


class InvitationSignupForm(forms.Form):
    """The short sign-up of an invited person: the email comes from the invitation."""

    name = forms.CharField(
        label="Your name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(
                    password, User(email=self.email, name=cleaned.get("name", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned
