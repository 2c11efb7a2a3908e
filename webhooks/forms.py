from django import forms

from webhooks.models import EVENTS


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2000,
        help_text="Where Kronvex POSTs the events, e.g. https://example.com/kronvex/webhook",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    events = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {meaning}") for name, meaning in EVENTS.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events sent to this endpoint.",
    )
