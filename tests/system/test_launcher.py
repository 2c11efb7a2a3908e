"""`manage.py serve` as `make run` starts it: start, stop by signal, crash, restart."""

import signal
from pathlib import Path

import psutil
import pytest
import requests

from tests.system.processes import (
    ApiClient,
    Processes,
    create_api_key,
    processes_mentioning,
    wait_until,
)

pytestmark = pytest.mark.slow

STOP_SECONDS = 30
# The kernel's parent-death signal reaches postgres and gunicorn at once; a fast
# shutdown of each takes well under this.
CRASH_CLEANUP_SECONDS = 10


@pytest.mark.parametrize(
    ("sig", "to_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm", "ctrl-c"],
)
def test_serve_answers_health_then_stops_cleanly_on_signal(
    processes: Processes, tmp_path: Path, sig: signal.Signals, to_group: bool
) -> None:
    data_dir = tmp_path / "data"
    service = processes.service(data_dir).start()

    response = service.health()
    assert response.status_code == 200, response.text
    health = response.json()
    assert health["status"] == "ok"
    assert health["database"]["status"] == "ok"
    assert health["broker"] == {"status": "ok", "mode": "in-process"}
    assert health["embedder"]["status"] == "ok"
    assert health["embedder"]["backend"] == "fake"
    assert service.leftovers(), "expected to see the service's postgres and gunicorn"

    # Ctrl-C in a terminal signals the launcher's whole process group.
    service.send(sig, to_group=to_group)
    assert service.wait(STOP_SECONDS) == 0, service.describe()

    assert wait_until(lambda: not service.leftovers(), timeout=5), service.leftovers()
    assert _clean_postgres_shutdowns(data_dir) == 1
    with pytest.raises(requests.ConnectionError):
        service.health()


def test_serve_killed_outright_takes_postgres_and_gunicorn_with_it_and_data_survives(
    processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = processes.service(data_dir).start()
    key = create_api_key(email="crash@example.com", env=first.env)
    api = ApiClient(first.url, key)
    api.post("agents", {"id": "crash-agent", "name": "Crash agent"}, expect=201)
    memory = api.post(
        "agents/crash-agent/remember",
        {"content": "The staging database lives in Frankfurt", "session_id": "ops"},
    )
    assert memory["status"] == "ready"
    children = first.leftovers()
    assert {"postgres", "gunicorn"} <= {_program(process) for process in children}, children

    first.send(signal.SIGKILL)
    assert first.wait(5) == -signal.SIGKILL
    assert wait_until(lambda: not first.leftovers(), timeout=CRASH_CLEANUP_SECONDS), [
        (process.pid, process.cmdline()) for process in first.leftovers()
    ]
    # Postgres got a fast-shutdown request from the kernel, not a crash: data is checkpointed.
    assert _clean_postgres_shutdowns(data_dir) == 1

    second = processes.service(data_dir).start()
    api = ApiClient(second.url, key)
    assert [agent["id"] for agent in api.get("agents")["agents"]] == ["crash-agent"]
    stored = api.get(f"agents/crash-agent/memories/{memory['id']}")
    assert stored["content"] == "The staging database lives in Frankfurt"
    recalled = api.post("agents/crash-agent/recall", {"query": "where is the staging database?"})
    assert [item["id"] for item in recalled["memories"]] == [memory["id"]]
    assert second.stop() == 0, second.describe()


def _clean_postgres_shutdowns(data_dir: Path) -> int:
    return (data_dir / "postgres.log").read_text().count("database system is shut down")


def _program(process: psutil.Process) -> str:
    cmdline = process.cmdline()
    if any("gunicorn" in part for part in cmdline[:3]):
        return "gunicorn"
    return Path(cmdline[0]).name if cmdline else ""


def test_second_serve_on_a_running_data_dir_refuses_and_leaves_the_first_serving(
    processes: Processes, tmp_path: Path
) -> None:
    # The second could attach to the first's postgres, but the first stops that postgres
    # when it exits, so the second would go on serving 503s: it must refuse instead.
    data_dir = tmp_path / "data"
    first = processes.service(data_dir).start()
    second = processes.service(data_dir).start(wait=False)

    assert second.wait(60) == 1, second.describe()
    output = second.output()
    assert f"The embedded PostgreSQL in {data_dir} is already run by another process" in output
    assert f"(pid {first.pid}: " in output
    assert "Stop that process first, or give this instance its own KRONVEX_DATA_DIR." in output
    assert "Kronvex is serving" not in output
    assert not processes_mentioning(f"127.0.0.1:{second.port}")

    # The refused start attached to the first's postgres without owning it: nothing stopped.
    response = first.health()
    assert response.status_code == 200, response.text
    assert response.json()["database"]["status"] == "ok"
    assert first.stop() == 0, first.describe()
    assert wait_until(lambda: not first.leftovers(), timeout=5), first.leftovers()
