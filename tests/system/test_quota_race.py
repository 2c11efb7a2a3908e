"""Quotas hold under concurrency: real simultaneous HTTP requests at a real server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from tests.system.processes import Processes, create_api_key, run_manage

pytestmark = pytest.mark.slow

FILL = """
from billing.models import Account
from memories.models import Agent
from memories.services import remember
agent = Agent.objects.get(slug="racer", account__memberships__user__email="race@example.com")
for index in range(490):
    remember(agent=agent, content=f"filler {index}")
print(Account.objects.get(pk=agent.account_id).memories_held)
"""


def test_fifty_simultaneous_remembers_at_490_of_500_store_exactly_ten(
    processes: Processes, tmp_path: Path
) -> None:
    service = processes.service(tmp_path / "data").start()
    key = create_api_key(email="race@example.com", agent="racer", env=service.env)
    # The first 490 through the service code directly: over HTTP they would run into
    # the free plan's requests-per-minute limit.
    filled = run_manage("shell", "-c", FILL, env=service.env)
    assert filled.returncode == 0, filled.stdout + filled.stderr
    assert filled.stdout.strip().splitlines()[-1] == "490"
    session = requests.Session()
    session.headers["X-API-Key"] = key
    url = f"{service.url}/api/v1/agents/racer"

    barrier = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def fire(index: int) -> None:
        barrier.wait()
        response = requests.post(
            f"{url}/remember",
            json={"content": f"racing memory {index}"},
            headers={"X-API-Key": key},
            timeout=60,
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=fire, args=(index,)) for index in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 10 + [402] * 40
    stored = session.get(f"{url}/memories", params={"q": "racing memory", "limit": 100}).json()
    assert stored["total"] == 10
    assert session.get(f"{url}/memories", params={"limit": 1}).json()["total"] == 500
    refused = session.post(f"{url}/remember", json={"content": "one more"})
    assert refused.status_code == 402
    assert refused.json()["used"] == 500
