from django.contrib import admin
from django.urls import include, path

from api.health import healthz_view
from billing.webhooks import stripe_webhook_view
from dashboard import views as site_views

urlpatterns = [
    path("", site_views.landing_view, name="home"),
    path("pricing/", site_views.pricing_view, name="pricing"),
    path("docs/", site_views.docs_view, name="docs"),
    path("docs/<slug:page>/", site_views.docs_view, name="docs-page"),
    path("healthz", healthz_view, name="healthz"),
    path("api/v1/", include("api.urls")),
    path("billing/stripe/webhook", stripe_webhook_view, name="stripe-webhook"),
    path("accounts/", include("allauth.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "api.errors.api_not_found"
handler500 = "api.errors.api_server_error"
