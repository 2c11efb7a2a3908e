"""The API's URLs plus one endpoint that crashes, for the 500 case of test_rate_limits_api."""

from typing import Any

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response

from api.views import AccountApi


class CrashApi(AccountApi):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise RuntimeError("a bug in a view")


urlpatterns = [
    path("api/v1/crash", CrashApi.as_view()),
    path("api/v1/", include("api.urls")),
]

handler404 = "api.errors.api_not_found"
handler500 = "api.errors.api_server_error"
