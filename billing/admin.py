from django import forms
from django.contrib import admin
from django.http import HttpRequest

from billing.models import Account, Membership, StripeEvent, Subscription
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


class SubscriptionInline(admin.StackedInline):
    """Stripe's word, shown only: it changes through Stripe's webhook."""

    model = Subscription
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "stripe_subscription_id",
        "status",
        "price_id",
        "plan",
        "current_period_end",
        "cancel_at_period_end",
        "cancel_at",
        "stripe_created",
        "stripe_updated",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "plan", "memories_held", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "memberships__user__email", "stripe_customer_id"]
    readonly_fields = ["uuid", "memories_held", "stripe_customer_id", "created_at"]
    inlines = [MembershipInline, SubscriptionInline]


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    """Webhook events received; one left unprocessed failed to apply and awaits a retry."""

    list_display = ["stripe_event_id", "type", "received_at", "processed"]
    list_filter = ["processed", "type"]
    search_fields = ["stripe_event_id"]
    readonly_fields = ["stripe_event_id", "type", "received_at", "processed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
