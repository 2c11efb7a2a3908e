"""Where a webhook may be sent, and the one function that sends it.

Server-side request forgery: a customer's URL must never make Kronvex reach its own
network. The host is resolved and every address it resolves to must be a public one
(not loopback, private, link-local, multicast, reserved or unspecified, IPv4-mapped
IPv6 unwrapped first), unless the operator sets KRONVEX_WEBHOOK_ALLOW_PRIVATE. This is
checked when an endpoint is registered and again at every delivery, and the delivery
connects to the address just checked (TLS still verifies the host name), so a DNS answer
that changes between the check and the connection (rebinding) cannot redirect it.
Redirects are never followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhooks.exceptions import DestinationRefused

MAX_URL_LENGTH = 2000
# Enough of a response body to say what went wrong; the rest is not read.
MAX_RESPONSE_BYTES = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    # The path and query string, sent as they are.
    target: str
    # The Host header: the host as written, with its port when it is not the default.
    host_header: str


def destination_parse(url: str, *, require_https: bool = False) -> Destination:
    """The parts of a webhook URL; DestinationRefused if it is not one Kronvex sends to."""
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"This is not a valid URL: {exc}.") from None
    allowed = ("https",) if require_https else ("http", "https")
    if parts.scheme not in allowed:
        raise DestinationRefused(
            "The URL must start with https://."
            if require_https
            else "The URL must start with http:// or https://."
        )
    if not parts.hostname:
        raise DestinationRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("The URL must not contain a user name or password.")
    default_port = 443 if parts.scheme == "https" else 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return Destination(
        scheme=parts.scheme,
        host=host,
        port=port or default_port,
        target=target,
        host_header=shown if port in (None, default_port) else f"{shown}:{port}",
    )


def address_public(address: IPAddress) -> bool:
    """Whether an address is one on the public internet."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def destination_addresses(destination: Destination, *, allow_private: bool) -> list[IPAddress]:
    """The addresses the host resolves to, every one checked; DestinationRefused if any is
    not public (unless allowed) or the host does not resolve."""
    try:
        infos = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationRefused(
            f"The host {destination.host!r} does not resolve: {exc}."
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 address may carry a zone ("fe80::1%eth0"): the address is before it.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not allow_private and not address_public(address):
            raise DestinationRefused(
                f"The host {destination.host!r} resolves to {address}, a loopback, private "
                "or reserved address: webhooks are only sent to public addresses."
            )
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DestinationRefused(f"The host {destination.host!r} does not resolve.")
    return addresses


def destination_check(url: str, *, allow_private: bool, require_https: bool) -> Destination:
    """DestinationRefused unless Kronvex may send to this URL now."""
    destination = destination_parse(url, require_https=require_https)
    destination_addresses(destination, allow_private=allow_private)
    return destination


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address already checked, verifying the certificate of the host name."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self.server_hostname = server_hostname

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_hostname)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Response:
    status: int
    # The start of the body, for the delivery log.
    body: bytes


def destination_post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    require_https: bool,
) -> Response:
    """POST the body to the URL, at an address checked just now; redirects are answers,
    not followed. Raises DestinationRefused, OSError or http.client.HTTPException."""
    destination = destination_parse(url, require_https=require_https)
    address = str(destination_addresses(destination, allow_private=allow_private)[0])
    connection: http.client.HTTPConnection
    if destination.scheme == "https":
        connection = _PinnedHTTPSConnection(
            address, destination.port, server_hostname=destination.host, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection(address, destination.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            destination.target,
            body=body,
            headers={**headers, "Host": destination.host_header},
        )
        answer = connection.getresponse()
        return Response(status=answer.status, body=answer.read(MAX_RESPONSE_BYTES))
    finally:
        connection.close()
