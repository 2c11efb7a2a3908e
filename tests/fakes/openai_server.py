"""A loopback HTTP server that speaks OpenAI's POST /v1/embeddings, for tests."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from tests.fakes.loopback import LoopbackServer

BEHAVIOURS = ("ok", "error_500", "error_401", "wrong_dimension", "slow")


class FakeEmbeddingServer(LoopbackServer):
    """OpenAI-compatible embeddings on 127.0.0.1, with switchable failure modes.

    behaviour: "ok" (deterministic vectors of the requested dimension), "error_500",
    "error_401", "wrong_dimension" (one value more than asked), "slow" (answers after
    `delay` seconds). Every request is appended to `requests` as
    {"path", "authorization", "body"}.
    """

    def __init__(self, *, default_dimensions: int = 1536) -> None:
        super().__init__()
        self.behaviour = "ok"
        self.delay = 1.0
        self.default_dimensions = default_dimensions
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @staticmethod
    def vector_for(text: str, dimensions: int) -> np.ndarray:
        """The raw (not normalised) vector the server answers for `text`."""
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        # Deliberately not unit length, so clients must normalise.
        return (np.random.default_rng(seed).standard_normal(dimensions) * 3.0).astype(np.float32)

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeEmbeddingServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsable": raw.decode(errors="replace")}
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "authorization": self.headers.get("Authorization"),
                            "body": body,
                        }
                    )
                    behaviour = server.behaviour
                if self.path.rstrip("/") != "/v1/embeddings":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                elif behaviour == "error_500":
                    self._send(
                        500,
                        {"error": {"message": "The server had an error", "type": "server_error"}},
                    )
                elif behaviour == "error_401":
                    self._send(
                        401,
                        {
                            "error": {
                                "message": "Incorrect API key provided",
                                "type": "invalid_request_error",
                                "code": "invalid_api_key",
                            }
                        },
                    )
                else:
                    if behaviour == "slow":
                        server._stopping.wait(server.delay)
                    self._send(200, server._answer(body, wrong=behaviour == "wrong_dimension"))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                # The SDK honours this, so its retries do not slow the tests down.
                self.send_header("retry-after-ms", "1")
                self.end_headers()
                self.wfile.write(data)

        self._stopping.clear()
        self.serve(Handler)
        return self

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def _answer(self, body: dict[str, Any], *, wrong: bool) -> dict[str, Any]:
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        dimensions = int(body.get("dimensions") or self.default_dimensions) + (1 if wrong else 0)
        base64_wanted = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = self.vector_for(str(text), dimensions)
            if base64_wanted:
                embedding: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                embedding = [float(value) for value in vector]
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        # Out of order on purpose: clients must sort by `index`.
        data.reverse()
        tokens = sum(len(str(text).split()) for text in inputs)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
