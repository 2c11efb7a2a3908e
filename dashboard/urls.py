from django.urls import path, re_path

from dashboard import views

app_name = "dashboard"

AGENT = "agents/<str:agent_id>/"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("keys/", views.api_key_list_view, name="api-keys"),
    path("keys/<uuid:key_id>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("keys/<uuid:key_id>/rotate/", views.api_key_rotate_view, name="api-key-rotate"),
    path("agents/", views.agent_list_view, name="agents"),
    path(AGENT, views.agent_detail_view, name="agent"),
    path(AGENT + "edit/", views.agent_edit_view, name="agent-edit"),
    path(AGENT + "delete/", views.agent_delete_view, name="agent-delete"),
    path(AGENT + "memories/delete/", views.memories_delete_view, name="memories-delete"),
    path(AGENT + "memories/<str:memory_id>/", views.memory_detail_view, name="memory"),
    path(
        AGENT + "memories/<str:memory_id>/delete/",
        views.memory_delete_view,
        name="memory-delete",
    ),
    path(
        AGENT + "memories/<str:memory_id>/retry/",
        views.memory_retry_view,
        name="memory-retry",
    ),
    path(AGENT + "sessions/clear/", views.session_clear_view, name="session-clear"),
    re_path(
        r"^agents/(?P<agent_id>[^/]+)/export\.(?P<fmt>json|csv)$",
        views.memory_export_view,
        name="memory-export",
    ),
    path(AGENT + "playground/", views.playground_view, name="playground"),
    path(
        AGENT + "playground/<str:operation>",
        views.playground_call_view,
        name="playground-call",
    ),
    path("billing/", views.billing_view, name="billing"),
    path("billing/checkout/", views.billing_checkout_view, name="billing-checkout"),
    path("billing/portal/", views.billing_portal_view, name="billing-portal"),
    path("account/", views.account_view, name="account"),
    path("account/export.json", views.account_export_view, name="account-export"),
    path("audit/", views.audit_log_view, name="audit"),
    path("audit/export/", views.audit_export_view, name="audit-export"),
    path("webhooks/", views.webhook_list_view, name="webhooks"),
    path("webhooks/<uuid:webhook_id>/", views.webhook_detail_view, name="webhook"),
    path("webhooks/<uuid:webhook_id>/test/", views.webhook_test_view, name="webhook-test"),
    path("webhooks/<uuid:webhook_id>/delete/", views.webhook_delete_view, name="webhook-delete"),
]
