"""A loopback HTTP server answering the few Stripe API calls Kronvex makes, for tests.

Also what Stripe does on its side of a webhook: events as Stripe sends them, and their
Stripe-Signature header.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import LoopbackServer

BEHAVIOURS = ("ok", "error_500")


class FakeStripeServer(LoopbackServer):
    """Stripe's v1 API on 127.0.0.1, for the endpoints billing/stripe_api.py calls.

    POST /v1/customers, POST /v1/checkout/sessions and POST /v1/billing_portal/sessions
    create objects with fresh ids and URLs; GET /v1/invoices lists what `invoice_add`
    put there for the customer, newest first; GET /v1/subscriptions/{id} answers the
    state `subscription_set` last gave it, or 404 resource_missing. behaviour "error_500"
    makes every call answer 500. Every request is appended to `requests` as
    {"method", "path", "params", "authorization"}; params are the form fields (or query)
    as Stripe's SDK encodes them, e.g. {"line_items[0][price]": "price_builder"}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.behaviour = "ok"
        self.requests: list[dict[str, Any]] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What KRONVEX_STRIPE_API_BASE is set to: the SDK adds /v1/..."""
        host, port = self.address
        return f"http://{host}:{port}"

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        """The recorded requests to one endpoint (path without query), oldest first."""
        with self._lock:
            return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def subscription_set(
        self,
        subscription_id: str,
        *,
        customer: str,
        status: str = "active",
        price: str = "price_builder",
        current_period_end: int = 1_796_083_200,  # 2026-12-01 00:00 UTC
        cancel_at_period_end: bool = False,
        cancel_at: int | None = None,
        created: int = 1_793_491_200,  # 2026-11-01 00:00 UTC
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Make Stripe hold this subscription, in the shape of API versions since
        2025-03-31 (the period on the item); returns the object, for event payloads."""
        item = {
            "id": f"si_{subscription_id}",
            "object": "subscription_item",
            "price": {"id": price, "object": "price", "currency": "eur"},
            "quantity": 1,
            "current_period_start": current_period_end - 30 * 86_400,
            "current_period_end": current_period_end,
        }
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "items": {"object": "list", "data": [item], "has_more": False},
            "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": cancel_at,
            "created": created,
            "metadata": metadata or {},
            "livemode": False,
        }
        with self._lock:
            self.subscriptions[subscription_id] = subscription
        return json.loads(json.dumps(subscription))

    def invoice_add(
        self,
        customer: str,
        *,
        amount_paid: int = 2900,
        status: str = "paid",
        created: int = 1_793_491_200,
        number: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            n = next(self._ids)
            invoice = {
                "id": f"in_{n}",
                "object": "invoice",
                "customer": customer,
                "number": number or f"KRX-{n:04d}",
                "amount_paid": amount_paid,
                "currency": "eur",
                "status": status,
                "created": created,
                "hosted_invoice_url": f"https://invoice.stripe.test/i/in_{n}",
            }
            self.invoices.setdefault(customer, []).append(invoice)
        return invoice

    def start(self) -> FakeStripeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                self._handle("GET", url.path, dict(parse_qsl(url.query)))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                self._handle("POST", urlsplit(self.path).path, dict(parse_qsl(body)))

            def _handle(self, method: str, path: str, params: dict[str, str]) -> None:
                with server._lock:
                    server.requests.append(
                        {
                            "method": method,
                            "path": path,
                            "params": params,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                    behaviour = server.behaviour
                if behaviour == "error_500":
                    self._send(500, _error("api_error", "Something went wrong on Stripe's end."))
                    return
                status, payload = server._answer(method, path, params)
                self._send(status, payload)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                # The SDK retries 500s; this keeps the tests from waiting for its back-off.
                self.send_header("Stripe-Should-Retry", "false")
                self.end_headers()
                self.wfile.write(data)

        self.serve(Handler)
        return self

    def _answer(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            n = next(self._ids)
            if (method, path) == ("POST", "/v1/customers"):
                return 200, {
                    "id": f"cus_{n}",
                    "object": "customer",
                    "email": params.get("email"),
                    "name": params.get("name"),
                    "metadata": {"kronvex_account": params.get("metadata[kronvex_account]")},
                }
            if (method, path) == ("POST", "/v1/checkout/sessions"):
                return 200, {
                    "id": f"cs_test_{n}",
                    "object": "checkout.session",
                    "mode": params.get("mode"),
                    "customer": params.get("customer"),
                    "client_reference_id": params.get("client_reference_id"),
                    "url": f"https://checkout.stripe.test/c/pay/cs_test_{n}",
                }
            if (method, path) == ("POST", "/v1/billing_portal/sessions"):
                return 200, {
                    "id": f"bps_{n}",
                    "object": "billing_portal.session",
                    "customer": params.get("customer"),
                    "return_url": params.get("return_url"),
                    "url": f"https://billing.stripe.test/p/session/bps_{n}",
                }
            if (method, path) == ("GET", "/v1/invoices"):
                limit = int(params.get("limit") or 10)
                invoices = sorted(
                    self.invoices.get(params.get("customer", ""), []),
                    key=lambda invoice: invoice["created"],
                    reverse=True,
                )
                return 200, {
                    "object": "list",
                    "url": "/v1/invoices",
                    "has_more": len(invoices) > limit,
                    "data": invoices[:limit],
                }
            if method == "GET" and path.startswith("/v1/subscriptions/"):
                subscription = self.subscriptions.get(path.rsplit("/", 1)[1])
                if subscription is None:
                    return 404, _error(
                        "invalid_request_error",
                        f"No such subscription: '{path.rsplit('/', 1)[1]}'",
                        code="resource_missing",
                    )
                return 200, subscription
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({path}).")


def _error(kind: str, message: str, *, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return {"error": error}


def stripe_event(
    kind: str, obj: dict[str, Any], *, event_id: str, created: int | None = None
) -> dict[str, Any]:
    """An event as Stripe's webhook sends it."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()) if created is None else created,
        "type": kind,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def stripe_signature(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with `payload`: HMAC-SHA256 with the
    endpoint's signing secret over "<timestamp>.<payload>"."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
