from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from api.health import healthz_view

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("healthz", healthz_view, name="healthz"),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "api.errors.api_not_found"
handler500 = "api.errors.api_server_error"
