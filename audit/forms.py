from django import forms

from audit.actions import TENANT_ACTIONS
from audit.models import ActorKind

OBJECT_TYPES = [
    ("product", "Product"),
    ("experiment", "Experiment"),
    ("apikey", "API key"),
    ("membership", "Member"),
    ("invitation", "Invitation"),
    ("webhookendpoint", "Webhook endpoint"),
    ("billingaccount", "Plan and billing"),
    ("tenant", "Workspace"),
]


class AuditFilterForm(forms.Form):
    """The audit log page's filters (GET). Every field is optional; a bad value is shown, not a 500."""

    action = forms.ChoiceField(required=False, choices=[("", "Any change"), *TENANT_ACTIONS.items()])
    actor_kind = forms.ChoiceField(required=False, label="Who", choices=[("", "Anyone"), *ActorKind.choices])
    actor = forms.CharField(required=False, max_length=254, label="Email or key prefix")
    object_type = forms.ChoiceField(required=False, label="Object", choices=[("", "Anything"), *OBJECT_TYPES])
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
