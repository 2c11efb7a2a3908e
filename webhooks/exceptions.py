class WebhookInvalid(Exception):
    """An endpoint that cannot be registered: its URL or its events; the message says why."""


class DestinationRefused(WebhookInvalid):
    """A webhook URL that is not http(s), or whose host resolves to an address Kronvex
    must not send to (loopback, private, link-local...): server-side request forgery."""
