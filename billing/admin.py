from django import forms
from django.contrib import admin

from billing.models import Account, Membership
from billing.plans import PLANS


class AccountAdminForm(forms.ModelForm):
    plan = forms.ChoiceField(choices=[(plan.slug, plan.name) for plan in PLANS])

    class Meta:
        model = Account
        fields = ["name", "plan"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "plan", "memories_held", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "memberships__user__email"]
    readonly_fields = ["uuid", "memories_held", "created_at"]
    inlines = [MembershipInline]
