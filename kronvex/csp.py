"""The Content-Security-Policy header of every response (Django 5.2 has none built in).

The site's own pages run no inline script and carry no inline style: scripts and
stylesheets come from static/ only. A view that needs more (the API reference pages,
whose bundled Swagger UI and ReDoc inject styles and start workers from blob: URLs)
declares its own policy with `with_policy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

HEADER = "Content-Security-Policy"

Policy = Mapping[str, Sequence[str]]

POLICY: Policy = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

# Swagger UI and ReDoc (served from drf-spectacular-sidecar, never a CDN) set styles
# inline and ReDoc renders in a worker made from a blob: URL.
API_DOCS_POLICY: Policy = {
    **POLICY,
    "style-src": ("'self'", "'unsafe-inline'"),
    "worker-src": ("'self'", "blob:"),
}

# Checkout and the customer portal: the dashboard's billing forms answer with a redirect
# there, and browsers hold a form's redirects to form-action too.
STRIPE_FORM_TARGETS = ("https://checkout.stripe.com", "https://billing.stripe.com")


def header_value(policy: Policy) -> str:
    """`{"default-src": ("'self'",), ...}` -> `default-src 'self'; ...`."""
    directives = dict(policy)
    if getattr(settings, "STRIPE_SECRET_KEY", ""):
        directives["form-action"] = (*directives["form-action"], *STRIPE_FORM_TARGETS)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def with_policy(policy: Policy) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Answer with `policy` instead of the site's default one."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            response = view(request, *args, **kwargs)
            response.csp_policy = policy
            return response

        return wrapped

    return decorate


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = header_value(getattr(response, "csp_policy", POLICY))
        return response
