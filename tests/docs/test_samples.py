"""Which fenced blocks of a docs page run, and what code they run."""

from __future__ import annotations

from pathlib import Path

from tests.docs.samples import code_blocks, docs_blocks

PAGE = """\
# A page

```python
print("runs")
```

<!-- docs-test: skip (starts the service) -->
```sh
make run
```

```json
{"shown": true}
```

<!-- docs-test: skip () -->
```bash
echo "the marker gives no reason"
```

```console
$ curl -s "$KRONVEX_BASE_URL/healthz" \\
    -H "Accept: application/json"
{"status": "ok"}
$ echo done
done
```

1. In a list:

   ```shell
   echo indented
   ```
"""


def _page(tmp_path: Path) -> Path:
    path = tmp_path / "page.md"
    path.write_text(PAGE, encoding="utf-8")
    return path


def test_blocks_are_named_after_their_page_and_opening_line(tmp_path: Path) -> None:
    blocks = code_blocks(_page(tmp_path))
    assert [block.id for block in blocks] == [
        "page.md:L3",
        "page.md:L8",
        "page.md:L12",
        "page.md:L17",
        "page.md:L21",
        "page.md:L31",
    ]
    assert blocks[0].source == 'print("runs")\n'
    assert blocks[5].source == "echo indented\n"


def test_only_python_and_shell_blocks_run(tmp_path: Path) -> None:
    _page(tmp_path)
    languages = {block.id: block.language for block in docs_blocks(tmp_path)}
    assert languages == {
        "page.md:L3": "python",
        "page.md:L8": "shell",
        "page.md:L17": "shell",
        "page.md:L21": "shell",
        "page.md:L31": "shell",
    }


def test_skip_marker_needs_a_reason(tmp_path: Path) -> None:
    blocks = {block.id: block for block in code_blocks(_page(tmp_path))}
    assert blocks["page.md:L3"].skip_reason is None
    assert blocks["page.md:L8"].skip_reason == "starts the service"
    assert blocks["page.md:L8"].marker_error is None
    assert blocks["page.md:L17"].skip_reason is None
    assert "gives no reason" in str(blocks["page.md:L17"].marker_error)


def test_console_blocks_run_their_prompted_commands_only(tmp_path: Path) -> None:
    console = {block.id: block for block in code_blocks(_page(tmp_path))}["page.md:L21"]
    assert console.runnable_source == (
        'curl -s "$KRONVEX_BASE_URL/healthz" \\\n    -H "Accept: application/json"\necho done\n'
    )
