"""Forms of the webhooks pages: the same fields and limits as the API's EndpointIn and EndpointPatch."""

from django import forms

from config.once import SubmitOnceForm
from pricing import webhooks
from pricing.models import WebhookEndpoint

# What each event type means, for the checkboxes; a type missing here shows its bare name.
EVENT_TYPE_HELP = {
    "price.changed": "A product was added or its price changed: by hand, through the API, "
    "or by an experiment's rollout.",
}


def event_type_choices() -> list[tuple[str, str]]:
    """Every event type an endpoint can subscribe to, as the service knows them."""
    return [(name, name) for name in webhooks.EVENT_TYPES]


class EndpointForm(SubmitOnceForm):
    url = forms.URLField(
        label="Endpoint URL",
        max_length=WebhookEndpoint._meta.get_field("url").max_length,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/pricelab/webhooks"}),
        help_text="Where we POST each event. It must be reachable from the internet: "
        "private, loopback and reserved addresses are refused.",
    )
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=event_type_choices,
        initial=list(webhooks.EVENT_TYPES),
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=WebhookEndpoint._meta.get_field("description").max_length,
        help_text="Optional: what receives these, e.g. “Storefront cache”.",
    )


class EndpointDescriptionForm(forms.Form):
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=WebhookEndpoint._meta.get_field("description").max_length,
    )


# What the roll page offers for how long the previous secret keeps signing.
KEEP_PREVIOUS_CHOICES = [
    (0, "No: it stops signing now"),
    (1, "For 1 hour"),
    (webhooks.ROLL_KEEP_PREVIOUS_HOURS, "For 24 hours"),
    (webhooks.ROLL_KEEP_PREVIOUS_HOURS_MAX, "For 7 days"),
]


class SecretRollForm(SubmitOnceForm):
    """A new signing secret. Once per page: a second roll would end the secret your
    receiver still uses before you saw the new one."""

    keep_previous_hours = forms.TypedChoiceField(
        label="Keep the current secret signing too?",
        choices=KEEP_PREVIOUS_CHOICES,
        coerce=int,
        initial=webhooks.ROLL_KEEP_PREVIOUS_HOURS,
        widget=forms.RadioSelect,
        help_text="While it does, each delivery carries two signatures, so your receiver keeps "
        "accepting deliveries until it has the new secret.",
    )
