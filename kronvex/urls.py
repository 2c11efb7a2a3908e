from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from api.health import healthz_view
from api.mcp import mcp_view
from billing.webhooks import stripe_webhook_view
from dashboard import views as site_views
from kronvex.csp import API_DOCS_POLICY, with_policy

urlpatterns = [
    path("", site_views.landing_view, name="home"),
    path("pricing/", site_views.pricing_view, name="pricing"),
    path("docs/", site_views.docs_view, name="docs"),
    path("docs/<slug:page>/", site_views.docs_view, name="docs-page"),
    path("healthz", healthz_view, name="healthz"),
    path("mcp", mcp_view, name="mcp"),
    path("mcp/", mcp_view),
    path("mcp/agents/<str:agent_id>", mcp_view, name="mcp-agent"),
    path("mcp/agents/<str:agent_id>/", mcp_view),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        with_policy(API_DOCS_POLICY)(SpectacularSwaggerView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        with_policy(API_DOCS_POLICY)(SpectacularRedocView.as_view(url_name="schema")),
        name="redoc",
    ),
    path("billing/stripe/webhook", stripe_webhook_view, name="stripe-webhook"),
    path("accounts/", include("allauth.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "api.errors.api_not_found"
handler500 = "api.errors.api_server_error"
