"""Every code sample of the docs runs, so that none can rot.

Each python and shell block of every docs/*.md page (see tests/docs/samples.py) is one
test, named `page.md:L<line of its opening fence>`. It runs in a subprocess against a
live server, with a fresh account of the test database behind these variables:

    KRONVEX_BASE_URL   the server, e.g. http://localhost:40123
    KRONVEX_API_KEY    an API key of the account
    KRONVEX_AGENT_ID   its agent `my-agent`

A page is read top to bottom: a block runs after the earlier blocks of its page in the
same language, the way a reader following the page has run them (a class defined in one
python block is used in the next; a shell variable set in one block is read in the next).
Python blocks share one namespace in the virtualenv's python; shell blocks run as one
`bash -euo pipefail` script, where `curl` fails on an HTTP error status (`--fail-with-body`)
so that a sample answered with an error fails its test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from api.services import api_key_create
from billing.services import account_get_or_create_for_email
from memories import services
from tests.docs.samples import Block, docs_blocks

TIMEOUT_SECONDS = 180
AGENT_ID = "my-agent"

_PYTHON_RUNNER = """
import json, sys

namespace = {"__name__": "__main__"}
for block in json.load(open(sys.argv[1], encoding="utf-8")):
    print(f"# --- {block['id']}", file=sys.stderr, flush=True)
    # Padded so that tracebacks name the block's own lines of the Markdown file.
    source = "\\n" * block["first_line"] + block["source"]
    exec(compile(source, block["path"], "exec"), namespace)
"""

_SHELL_PRELUDE = """\
# A sample that gets an HTTP error answer fails, with the answer's body shown, unless it
# already says how curl treats errors.
curl() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            --fail | --fail-with-body | -[!-]*f*) command curl "$@"; return ;;
        esac
    done
    command curl --fail-with-body "$@"
}
"""

_BLOCKS = docs_blocks()


def _params() -> list[object]:
    """A case per block that runs; a block marked not to run (with its reason) is not a
    test at all, so the suite shows no skips for it."""
    return [pytest.param(block, id=block.id) for block in _BLOCKS if block.skip_reason is None]


def _earlier_blocks(block: Block) -> list[Block]:
    """The blocks of the page that run before this one: same language, not skipped."""
    return [
        other
        for other in _BLOCKS
        if other.path == block.path
        and other.line < block.line
        and other.language == block.language
        and other.skip_reason is None
        and other.marker_error is None
    ]


@pytest.fixture
def docs_environment(live_server: object, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The variables the samples read: a live server, and an API key and agent on it."""
    account = account_get_or_create_for_email(email="docs-reader@example.com")[0]
    raw_key = api_key_create(account=account)[1]
    services.agent_create(account=account, slug=AGENT_ID, name=AGENT_ID)
    # The live server answers each connection in a thread of its own; one database
    # connection kept per thread past the test would outlive the test database.
    database = connections["default"].settings_dict
    kept_for = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    environment = {
        **os.environ,
        # The virtualenv's scripts first, as in an activated virtualenv.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KRONVEX_BASE_URL": str(live_server.url),  # type: ignore[attr-defined]
        "KRONVEX_API_KEY": raw_key,
        "KRONVEX_AGENT_ID": AGENT_ID,
        "PYTHONUNBUFFERED": "1",
    }
    try:
        yield environment
    finally:
        database["CONN_MAX_AGE"] = kept_for


def _command(block: Block, workdir: Path) -> list[str]:
    blocks = [*_earlier_blocks(block), block]
    if block.language == "python":
        script = workdir / "blocks.json"
        script.write_text(
            json.dumps(
                [
                    {
                        "id": item.id,
                        "path": str(item.path),
                        "first_line": item.line,
                        "source": item.runnable_source,
                    }
                    for item in blocks
                ]
            ),
            encoding="utf-8",
        )
        return [sys.executable, "-c", _PYTHON_RUNNER, str(script)]
    bash = shutil.which("bash")
    assert bash is not None, "the shell samples need bash"
    parts = [_SHELL_PRELUDE]
    for item in blocks:
        parts.append(f"echo '# --- {item.id}' >&2\n{item.runnable_source}")
    script = workdir / "blocks.sh"
    script.write_text("\n".join(parts), encoding="utf-8")
    return [bash, "-euo", "pipefail", str(script)]


@pytest.mark.parametrize("block", _params())
def test_docs_sample_runs(block: Block, docs_environment: dict[str, str], tmp_path: Path) -> None:
    assert block.marker_error is None, f"{block.id}: {block.marker_error}"
    if block.language == "shell":
        assert shutil.which("curl") is not None, "the shell samples need curl"
    try:
        result = subprocess.run(
            _command(block, tmp_path),
            cwd=tmp_path,
            env=docs_environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(
            f"{block.id} did not finish within {TIMEOUT_SECONDS} s.\n"
            f"--- stdout\n{timeout.stdout or ''}\n--- stderr\n{timeout.stderr or ''}"
        )
    assert result.returncode == 0, (
        f"{block.id} exited with status {result.returncode}.\n--- block\n{block.source}"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
