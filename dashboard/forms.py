from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser

from audit.models import AuditEvent
from billing.models import Account
from memories.models import Agent, MemoryType
from memories.selectors import MEMORY_SORTS

SORT_LABELS = {"recent": "Newest first", "oldest": "Oldest first", "most_used": "Most recalled"}


class AgentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.slug})"


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text='What uses this key, e.g. "production app" or "laptop".',
    )
    read_only = forms.BooleanField(
        label="Read-only",
        required=False,
        help_text="May list, get, recall and inject context; every write answers 403.",
    )
    agents = AgentChoiceField(
        queryset=Agent.objects.none(),
        required=False,
        to_field_name="uuid",
        widget=forms.CheckboxSelectMultiple,
        help_text="Limit the key to these agents; none ticked: every agent, new ones too.",
    )

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agents = self.fields["agents"]
        assert isinstance(agents, AgentChoiceField)
        agents.queryset = Agent.objects.for_account(account).order_by("name", "slug")


# Grace periods offered when rotating a key, in seconds.
ROTATION_GRACE_CHOICES = [
    ("0", "None: refuse the old key at once"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
]


class ApiKeyRotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label="The old key keeps working for",
        choices=ROTATION_GRACE_CHOICES,
        coerce=lambda value: timedelta(seconds=int(value)),
        initial="86400",
    )


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    agent_id = forms.CharField(
        label="Agent id",
        max_length=100,
        required=False,
        help_text="Used in API URLs: letters, digits, '.', '_' and '-'. "
        "Leave empty to derive it from the name.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class AgentEditForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000
    )
    retention_days = forms.IntegerField(
        label="Retention (days)",
        required=False,
        min_value=0,
        max_value=36_500,
        help_text="Erase episodic memories this many days after they were last stated; "
        "pinned ones stay. Empty or 0: keep them until deleted.",
    )


class MemoryFilterForm(forms.Form):
    """The memory browser's query string; anything invalid falls back to the default."""

    q = forms.CharField(label="Search", max_length=1000, required=False)
    type = forms.ChoiceField(choices=[("", "All types"), *MemoryType.choices], required=False)
    session = forms.CharField(label="Session", max_length=255, required=False)
    sort = forms.ChoiceField(
        choices=[(key, SORT_LABELS[key]) for key in MEMORY_SORTS], required=False
    )
    page = forms.IntegerField(min_value=1, required=False)

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "text": data.get("q") or None,
            "memory_type": data.get("type") or None,
            "session_id": data.get("session") or None,
            "sort": data.get("sort") or "recent",
            "page": data.get("page") or 1,
        }


class AuditFilterForm(forms.Form):
    """The audit log's query string; anything invalid falls back to no filter."""

    kind = forms.ChoiceField(
        label="Event", choices=[("", "All events"), *AuditEvent.Kind.choices], required=False
    )
    actor = forms.CharField(label="By", max_length=320, required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput({"type": "date"}))
    page = forms.IntegerField(min_value=1, required=False)

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "kind": data.get("kind") or None,
            "actor": data.get("actor") or None,
            "since": data.get("since"),
            "until": data.get("until"),
        }


class QueryTestForm(forms.Form):
    query = forms.CharField(label="Query", max_length=4000)
    top_k = forms.IntegerField(label="Results", min_value=1, max_value=50, initial=5)
    query_session = forms.CharField(label="Only session", max_length=255, required=False)


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Your password, to confirm.",
    )

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password
