#!/usr/bin/env python
"""How fast the dashboard's pages answer with 100,000 memories in one agent.

Starts `manage.py serve` on its own data folder, creates a signed-up user whose agent
holds --memories memories (bulk SQL: varied text, sessions, types, access counts, and
random unit vectors marked as embedded by the configured model, so the "test a query"
box searches them as recall does), signs in over HTTP like a browser, then times every
page of the dashboard and the exports.

    .venv/bin/python bench/dashboard_pages.py
    .venv/bin/python bench/dashboard_pages.py --memories 100000 --repeat 30 --keep

Each page's figures: client-side p50/p90/max in ms over --repeat loads, the server's
own time (gunicorn's access log), and the page size. The first loads of the query box
include each web process loading the agent's vectors once; p50 is the warm figure.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_latency import (
    REPO,
    Server,
    free_port,
    log,
    server_env,
    summarise,
)

EMAIL = "dashboard-bench@example.com"
PASSWORD = "bench passphrase that is long enough"
AGENT = "big-agent"

FILL = r"""
import os
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.db import connection
from billing.services import account_create
from memories.embedding import get_embedder
from memories.models import Agent
from memories.services import agent_create

email, password = os.environ["BENCH_EMAIL"], os.environ["BENCH_PASSWORD"]
slug, total = os.environ["BENCH_AGENT"], int(os.environ["BENCH_MEMORIES"])
user = User.objects.filter(username=email).first()
if user is None:
    user = User.objects.create_user(username=email, email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    account = account_create(owner=user, name=email)
    agent_create(account=account, name="Big agent", slug=slug)
agent = Agent.objects.get(account__memberships__user=user, slug=slug)
have = agent.memories.count()
embedder = get_embedder()
dims = len(embedder.embed(["probe"])[0])
if have < total:
    with connection.cursor() as cursor:
        cursor.execute(
            '''
            INSERT INTO memories_memory (
                uuid, account_id, agent_id, content, type, session_id, metadata, pinned,
                access_count, created_at, updated_at, embedding, embedding_model, status,
                embedding_error, vector_version
            )
            SELECT gen_random_uuid(), %s, %s,
                   (ARRAY['User prefers', 'User mentioned', 'Assistant suggested',
                          'User asked about', 'User decided on'])[1 + n %% 5]
                   || ' ' || (ARRAY['Postgres indexes', 'a trip to Lisbon', 'weekly reports',
                          'the billing migration', 'green tea', 'TypeScript generics',
                          'the quarterly budget', 'a dentist appointment'])[1 + n %% 8]
                   || ' (note ' || n || ')',
                   (ARRAY['episodic', 'semantic', 'procedural'])[1 + n %% 3],
                   'user-' || (n %% 1000), '{}', false, n %% 13,
                   now() - n * interval '37 seconds', now(),
                   (SELECT array_agg(random() - 0.5 + g * 0 + n * 0)
                    FROM generate_series(1, %s) AS g)::vector,
                   %s, 'ready', '', 1
            FROM generate_series(%s, %s) AS n
            ''',
            [agent.account_id, agent.pk, dims, embedder.model_name, have + 1, total],
        )
        cursor.execute(
            "UPDATE memories_agent SET vector_version = vector_version + 1 WHERE id = %s",
            [agent.pk],
        )
        cursor.execute("VACUUM ANALYZE memories_memory")
print(agent.memories.count())
"""


def sign_in(base_url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base_url}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"csrfmiddlewaretoken": token.group(1), "login": EMAIL, "password": PASSWORD},
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=30,
    )
    if not response.url.rstrip("/").endswith("/dashboard"):
        raise RuntimeError(f"sign-in failed, landed on {response.url}")
    return session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20, help="loads per page (default 20)")
    parser.add_argument("--data-dir", type=Path, help="reused if it exists (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="kronvex-dashboard-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(data_dir, port)
    server = Server(data_dir, env, port)
    log(f"data folder {data_dir}; serving on {server.base_url}")
    try:
        server.start()
        server.wait_healthy(240)
        started = time.monotonic()
        log(f"filling the agent to {args.memories:,} memories (bulk SQL)...")
        fill = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", FILL],
            cwd=REPO,
            env={
                **env,
                "BENCH_EMAIL": EMAIL,
                "BENCH_PASSWORD": PASSWORD,
                "BENCH_AGENT": AGENT,
                "BENCH_MEMORIES": str(args.memories),
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if fill.returncode != 0:
            raise RuntimeError(f"fill failed:\n{fill.stdout}\n{fill.stderr}")
        count = int(fill.stdout.strip().splitlines()[-1])
        log(f"agent holds {count:,} memories (filled in {time.monotonic() - started:.1f} s)")

        session = sign_in(server.base_url)
        base = f"/dashboard/agents/{AGENT}/"
        detail = session.get(f"{server.base_url}{base}", timeout=30).text
        memory_id = re.search(r"/memories/([0-9a-f-]{36})/", detail)
        assert memory_id, "no memory link on the agent page"
        pages = {
            "home": "/dashboard/",
            "agents": "/dashboard/agents/",
            "agent page 1": base,
            "agent page 1000": f"{base}?page=1000",
            "agent last page": f"{base}?page={(count + 49) // 50}",
            "search text": f"{base}?q=note+4242",
            "filter+sort": f"{base}?session=user-7&type=semantic&sort=most_used",
            "test a query": f"{base}?query=what+does+the+user+drink&top_k=10",
            "memory detail": f"{base}memories/{memory_id.group(1)}/",
            "delete confirm": f"{base}delete/",
            "playground": f"{base}playground/",
        }
        header = f"  {'page':<18}{'p50':>8}{'p90':>8}{'max':>8}{'server p50':>12}{'kB':>8}"
        log(f"\nDashboard pages, {count:,} memories in the agent, {args.repeat} loads each (ms)")
        log(header)
        log("  " + "-" * (len(header) - 2))
        for name, path in pages.items():
            timings: list[float] = []
            size = 0
            offset = server.log_offset()
            for _ in range(args.repeat):
                began = time.perf_counter()
                response = session.get(f"{server.base_url}{path}", timeout=60)
                timings.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {response.status_code}")
                size = len(response.content)
            stats = summarise(timings)
            own = server.access_ms(offset, path.split("?")[0].rstrip("/"))
            own_p50 = f"{summarise(own)['p50']:>12.0f}" if own else f"{'':>12}"
            log(
                f"  {name:<18}{stats['p50']:>8.1f}{stats['p90']:>8.1f}{stats['max']:>8.1f}"
                f"{own_p50}{size / 1024:>8.1f}"
            )

        log("\nExports (whole agent, streamed)")
        for fmt in ("csv", "json"):
            began = time.perf_counter()
            with session.get(
                f"{server.base_url}{base.rstrip('/')}/export.{fmt}", stream=True, timeout=600
            ) as response:
                size = sum(len(chunk) for chunk in response.iter_content(1 << 16))
            seconds = time.perf_counter() - began
            log(
                f"  {fmt:<5} {size / 1e6:8.1f} MB in {seconds:6.2f} s "
                f"({count / seconds:,.0f} memories/s)"
            )
    finally:
        server.stop()
        if not args.data_dir and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
