"""docs/configuration.md, .env.example and kronvex/settings.py agree on every variable."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
SETTINGS = ROOT / "kronvex" / "settings.py"

_GROUP = re.compile(r"^#\s*---\s*(?P<title>.*?)\s*-*\s*$")
_VARIABLE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
_ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|(?P<default>[^|]*)\|")
_SETTING_READ = re.compile(r"env_(?:str|int|float|bool|list)\(\s*\"(?P<name>[A-Z][A-Z0-9_]*)\"")


def env_example_groups() -> list[dict[str, str]]:
    """The variables of .env.example (name -> value), group by group, in file order."""
    groups: list[dict[str, str]] = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if _GROUP.match(line):
            groups.append({})
            continue
        variable = _VARIABLE.match(line)
        if variable:
            assert groups, f"{line!r} comes before the first '# --- Group ---' line"
            groups[-1][variable["name"]] = variable["value"]
    return groups


def documented_groups() -> list[dict[str, str]]:
    """The variables docs/configuration.md documents (name -> default cell), per `##` section."""
    groups: list[dict[str, str]] = []
    for line in CONFIGURATION_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            groups.append({})
            continue
        row = _ROW.match(line)
        if row:
            assert groups, f"{line!r} comes before the first '## ' section"
            groups[-1][row["name"]] = row["default"].strip()
    return [group for group in groups if group]


def expected_cell(value: str) -> str:
    return f"`{value}`" if value else "unset"


def test_every_env_example_variable_is_documented_with_its_default() -> None:
    documented = {name: cell for group in documented_groups() for name, cell in group.items()}
    for group in env_example_groups():
        for name, value in group.items():
            assert name in documented, f"{name} is in .env.example, not in docs/configuration.md"
            assert documented[name] == expected_cell(value), (
                f"{name}: docs/configuration.md says {documented[name]}, "
                f".env.example says {expected_cell(value)}"
            )


def test_configuration_doc_documents_only_env_example_variables() -> None:
    example = {name for group in env_example_groups() for name in group}
    documented = [name for group in documented_groups() for name in group]
    assert sorted(set(documented) - example) == [], "documented, but not in .env.example"
    assert len(documented) == len(set(documented)), "a variable is documented twice"


def test_configuration_doc_groups_variables_as_env_example_does() -> None:
    example = [list(group) for group in env_example_groups()]
    documented = [list(group) for group in documented_groups()]
    assert documented == example


def test_every_variable_settings_reads_is_in_env_example() -> None:
    read = set(_SETTING_READ.findall(SETTINGS.read_text(encoding="utf-8")))
    assert {"KRONVEX_DATA_DIR", "DATABASE_URL"} <= read  # the pattern finds the reads
    example = {name for group in env_example_groups() for name in group}
    assert sorted(read - example) == [], "read in kronvex/settings.py, missing from .env.example"
