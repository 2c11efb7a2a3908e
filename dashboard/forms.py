from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser

from memories.models import MemoryType
from memories.selectors import MEMORY_SORTS

SORT_LABELS = {"recent": "Newest first", "oldest": "Oldest first", "most_used": "Most recalled"}


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text='What uses this key, e.g. "production app" or "laptop".',
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
