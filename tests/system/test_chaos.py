"""Nothing accepted is lost: workers killed, Redis stopped, the provider failing, the
database restarted, with real processes. Each test prints its figures (run with -s)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from kronvex.embedded_postgres import EmbeddedPostgres, django_database
from tests.fakes.openai_server import FakeEmbeddingServer
from tests.system.chaos import (
    Answers,
    alive,
    fresh_database,
    in_background,
    log_lines,
    memory_counts,
    provider_settings,
    remember_stream,
    start_web,
    start_worker,
    wait_until_ready,
)
from tests.system.processes import (
    PYTHON,
    ApiClient,
    PostgresCluster,
    Processes,
    child_env,
    create_api_key,
    run_manage,
    wait_until,
)

pytestmark = pytest.mark.slow

AGENT = "chaos-agent"
DRAIN_TIMEOUT = 240


@pytest.fixture
def external_database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    yield from fresh_database(postgres_cluster)


def production_env(tmp_path: Path, database_url: str, broker_url: str, provider: str) -> Any:
    return child_env(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        KRONVEX_DATA_DIR=str(tmp_path / "data"),
        KRONVEX_EMBEDDING_BATCH_SIZE="16",
        # Quick sweeps, so that a test sees the sweeper work within seconds.
        KRONVEX_SWEEP_INTERVAL_SECONDS="2",
        KRONVEX_SWEEP_PENDING_AFTER_SECONDS="3",
        KRONVEX_SWEEP_MAX_DELAY_SECONDS="6",
        KRONVEX_SWEEP_MAX_ATTEMPTS="50",
        **provider_settings(provider),
    )


def unlimited_key(env: dict[str, str]) -> str:
    """An API key of an account on the plan without limits: the streams are large."""
    key = create_api_key(email="chaos@example.com", agent=AGENT, env=env)
    planned = run_manage("setplan", "chaos@example.com", "enterprise", env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return key


def prepare(env: dict[str, str]) -> str:
    migrated = run_manage("migrate", "--no-input", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return unlimited_key(env)


def test_a_worker_killed_mid_way_loses_and_duplicates_nothing(
    processes: Processes, tmp_path: Path, external_database_url: str
) -> None:
    count = 1000
    with FakeEmbeddingServer(default_dimensions=8) as provider:
        # Slow enough that the worker is busy, holding tasks, when it is killed.
        provider.behaviour, provider.delay = "slow", 0.2
        redis = processes.redis().start()
        env = production_env(tmp_path, external_database_url, redis.url, provider.base_url)
        key = prepare(env)
        web, url = start_web(processes, env)
        first = start_worker(processes, env, name="worker-1")

        answers = Answers()
        contents = [f"Chaos memory number {index} of the killed worker" for index in range(count)]
        stream = in_background(
            lambda: remember_stream(url, key, AGENT, contents, answers=answers, per_second=100)
        )
        assert wait_until(
            lambda: memory_counts(external_database_url).ready >= 100, timeout=120, interval=0.5
        )
        first.send(signal.SIGKILL, to_group=True)
        first.wait(10)
        killed_at = memory_counts(external_database_url)
        stream.join(timeout=300)
        started = time.monotonic()
        # The new worker runs beat, and with it the sweeper.
        second = start_worker(processes, env, name="worker-2", beat=True)
        counts, _ = wait_until_ready(external_database_url, expected=count, timeout=DRAIN_TIMEOUT)
        drained = time.monotonic() - started

    print(
        f"\nkilled worker: {killed_at.ready} of {killed_at.rows} ready when killed; answers "
        f"{dict(answers.statuses)}; {counts.ready} ready, {counts.rows} rows, "
        f"{counts.distinct_contents} distinct, {drained:.1f} s to drain after the restart; "
        f"sweeper log lines: {log_lines(second, 'sweeper:')}"
    )
    assert dict(answers.statuses) == {200: count}, answers.unexpected
    assert counts.rows == counts.distinct_contents == count
    assert counts.by_status == {"ready": count}
    assert second.stop(timeout=120) == 0, second.describe()
    assert web.stop() == 0, web.describe()


def test_remember_answers_while_redis_is_down_and_the_sweeper_finishes_the_work(
    processes: Processes, tmp_path: Path, external_database_url: str
) -> None:
    count = 500
    with FakeEmbeddingServer(default_dimensions=8) as provider:
        redis = processes.redis().start()
        env = production_env(tmp_path, external_database_url, redis.url, provider.base_url)
        key = prepare(env)
        web, url = start_web(processes, env)
        worker = start_worker(processes, env)
        # A deployment without beat sweeps with the command.
        sweeper = processes.command(
            "sweep", [PYTHON, "manage.py", "sweep", "--loop", "2"], env=env
        ).start()

        answers = Answers()
        contents = [f"Memory {index} remembered around a Redis outage" for index in range(count)]
        # 500 remembers over ~50 s, with Redis stopped from ~10 s to ~40 s.
        stream = in_background(
            lambda: remember_stream(
                url, key, AGENT, contents, answers=answers, threads=4, per_second=10
            )
        )
        time.sleep(10)
        assert redis.stop() == 0, redis.describe()
        down_at = memory_counts(external_database_url)
        time.sleep(30)
        during = memory_counts(external_database_url)
        redis = processes.redis(port=redis.port).start()
        started = time.monotonic()
        # Celery's worker may exit on losing its broker (kombu fails to ack what it was
        # running, "Unrecoverable error"): its supervisor starts it again, as here.
        worker_exited = not worker.running()
        if worker_exited:
            worker = start_worker(processes, env, name="worker-restarted")
        stream.join(timeout=300)
        counts, _ = wait_until_ready(external_database_url, expected=count, timeout=DRAIN_TIMEOUT)
        drained = time.monotonic() - started

    warnings = log_lines(web, "cannot queue the embedding")
    print(
        f"\nredis down: {down_at.rows} stored when it stopped, {during.rows} 30 s later "
        f"({during.by_status}); answers {dict(answers.statuses)}; "
        f"{counts.ready} ready, {counts.rows} rows, {counts.distinct_contents} distinct, "
        f"{drained:.1f} s to drain after Redis returned; {warnings} queuing warnings logged; "
        f"sweeper lines: {log_lines(sweeper, 'Swept:')}; worker exited with the broker: "
        f"{worker_exited}"
    )
    assert answers.server_errors == 0, answers.unexpected
    assert dict(answers.statuses) == {200: count}, answers.unexpected
    assert during.rows > down_at.rows, "remembers were stored while Redis was down"
    assert counts.rows == counts.distinct_contents == count
    assert counts.by_status == {"ready": count}
    # Logged once per web process, not once per remember.
    assert 1 <= warnings <= 2, web.output(200)
    assert sweeper.stop() == 0, sweeper.describe()
    assert worker.stop(timeout=120) == 0, worker.describe()
    assert web.stop() == 0, web.describe()


def embedded_conninfo(data_dir: Path) -> dict[str, Any]:
    database = django_database(data_dir)
    return {
        "dbname": database["NAME"],
        "user": database["USER"],
        "host": database["HOST"],
        "port": database["PORT"],
    }


SWEEP_QUICKLY = {
    "KRONVEX_SWEEP_INTERVAL_SECONDS": "1",
    "KRONVEX_SWEEP_PENDING_AFTER_SECONDS": "2",
    "KRONVEX_SWEEP_MAX_DELAY_SECONDS": "4",
    "KRONVEX_SWEEP_MAX_ATTEMPTS": "50",
}


def test_memories_wait_out_a_failing_provider_and_complete_after_it_recovers(
    processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with FakeEmbeddingServer(default_dimensions=8) as provider:
        settings = {**provider_settings(provider.base_url), **SWEEP_QUICKLY}
        service = processes.service(data_dir, embedder="openai", settings=settings).start()
        key = unlimited_key(service.env)
        api = ApiClient(service.url, key)
        before = [f"Before the outage, fact {index}" for index in range(20)]
        during = [f"During the outage, the user mentioned kiwi {index}" for index in range(100)]
        for content in before:
            assert api.post(f"agents/{AGENT}/remember", {"content": content})["status"] == "ready"

        provider.behaviour = "error_500"
        answers = Answers()
        stored = [api.post(f"agents/{AGENT}/remember", {"content": text}) for text in during]
        outage_recalls = [
            api.session.post(
                f"{service.url}/api/v1/agents/{AGENT}/recall",
                json={"query": query, "top_k": 5},
                timeout=30,
            )
            for query in ("fact", "kiwi")
        ]
        for outage_recall in outage_recalls:
            answers.record(outage_recall.status_code, outage_recall.text, expected=200)
        waiting = memory_counts(embedded_conninfo(data_dir))

        provider.behaviour = "ok"
        recovered = api.post(f"agents/{AGENT}/recall", {"query": "kiwi", "top_k": 50})
        started = time.monotonic()
        counts, _ = wait_until_ready(
            embedded_conninfo(data_dir), expected=len(before) + len(during), timeout=120
        )
        drained = time.monotonic() - started

    statuses_after_recovery = [item["status"] for item in recovered["memories"]]
    print(
        f"\nprovider outage: remember statuses while failing "
        f"{sorted({item['status'] for item in stored})}; waiting {waiting.by_status}; recall "
        f"during the outage {[answer.status_code for answer in outage_recalls]} "
        f"({[answer.headers.get('X-Kronvex-Recall-Mode') for answer in outage_recalls]}); "
        f"recall just after recovery returned {len(statuses_after_recovery)} "
        f"({statuses_after_recovery.count('ready')} ready); {counts.ready} ready after "
        f"{drained:.1f} s"
    )
    assert {item["status"] for item in stored} <= {"pending", "failed"}
    assert waiting.ready == len(before)
    # The query cannot be embedded: recall answers from the memories' words, the embedded
    # ones and those still waiting, and says so.
    assert [answer.status_code for answer in outage_recalls] == [200, 200], answers.unexpected
    assert {answer.headers["X-Kronvex-Recall-Mode"] for answer in outage_recalls} == {"words"}
    embedded_found, waiting_found = (answer.json()["memories"] for answer in outage_recalls)
    assert len(embedded_found) == len(waiting_found) == 5
    assert {item["content"] for item in embedded_found} <= set(before)
    assert {item["status"] for item in embedded_found} == {"ready"}
    assert {item["content"] for item in waiting_found} <= set(during)
    # Once the provider answers, recall answers at once, whatever is still waiting.
    assert len(recovered["memories"]) == 50
    assert counts.rows == counts.distinct_contents == len(before) + len(during)
    assert counts.by_status == {"ready": len(before) + len(during)}
    assert service.stop(signal.SIGTERM) == 0, service.describe()


def postmaster(service: Any) -> psutil.Process:
    children = psutil.Process(service.pid).children()
    found = [child for child in children if child.name() in {"postgres", "postmaster"}]
    assert len(found) == 1, [child.cmdline() for child in children]
    return found[0]


def test_requests_during_a_database_restart_get_503_then_the_service_answers_again(
    processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    service = processes.service(data_dir, settings=SWEEP_QUICKLY).start()
    key = unlimited_key(service.env)
    api = ApiClient(service.url, key)
    api.post(f"agents/{AGENT}/remember", {"content": "The user's flight is on Friday"})

    database = postmaster(service)
    database.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
    # Its parent reaps it only when it exits itself: a zombie is a stopped database.
    assert wait_until(lambda: not alive(database), timeout=60)
    gap: list[requests.Response] = []
    for index in range(5):
        gap.append(
            api.session.post(
                f"{api.base_url}/api/v1/agents/{AGENT}/remember",
                json={"content": f"Said while the database restarts, {index}"},
                timeout=30,
            )
        )
        gap.append(api.session.get(f"{api.base_url}/api/v1/agents/{AGENT}/memories", timeout=30))

    restarted = EmbeddedPostgres(data_dir)
    try:
        restarted.start()
        started = time.monotonic()
        back = wait_until(
            lambda: (
                api.session.get(
                    f"{api.base_url}/api/v1/agents/{AGENT}/memories", timeout=30
                ).status_code
                == 200
            ),
            timeout=60,
        )
        answered_after = time.monotonic() - started
        after = [
            api.post(f"agents/{AGENT}/remember", {"content": f"After the restart, {index}"})
            for index in range(5)
        ]
        listed = api.get(f"agents/{AGENT}/memories", params={"limit": 50})
    finally:
        restarted.stop()

    print(
        f"\ndatabase restart: answers during the gap {[r.status_code for r in gap]}; "
        f"answering again {answered_after:.1f} s after the database was back"
    )
    for response in gap:
        assert response.status_code == 503, response.text
        assert response.json() == {
            "detail": "The database is unavailable; try again shortly.",
            "code": "database_unavailable",
        }
    assert back
    assert {memory["status"] for memory in after} == {"ready"}
    assert listed["total"] == 6
    assert service.running(), "the service itself was not restarted"
