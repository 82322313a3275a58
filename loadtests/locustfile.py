"""Benign lab traffic for throughput and latency comparisons of the layer configurations.

Run by :mod:`rampart.loadtests.runner` (``rampart load``); can also be run by hand:
``locust -f loadtests/locustfile.py --headless -u 20 -r 20 -t 10s --host http://127.0.0.1:8000``.
Every request is benign: a 403 means a layer flagged benign traffic and counts as a failure.

Profiles (``RAMPART_LOAD_PROFILE``):

- ``flat`` (default): every user sends as fast as it can, from one client address; for
  gateways without rate limits (``rampart load``). A 429 is a failure.
- ``paced``: each user sends ``RAMPART_LOAD_USER_RPS`` requests per second (default 2) as a
  client of its own (an ``X-Forwarded-For`` address from 198.18.0.0/15, the range set aside
  for benchmarks; the gateway must trust the load generator as a proxy). This is the compose
  demo's profile: its gateways run the default rate limits, which no user trips at that pace,
  except the failed-login limit, whose 429 is then the expected answer to a wrong password.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

from locust import FastHttpUser, between, constant_throughput, events, task
from locust.env import Environment

from rampart.loadtests.clients import client_address

CATEGORIES = ("books", "electronics", "garden", "kitchen")
WORDS = ("Hub", "Can", "Knife", "Pan", "Keyboard", "Shears")
DOCS = ("readme.txt", "shipping.txt", "returns.md", "guides/getting-started.md")
UPLOADS = ("report.pdf", "logo.png", "invoice-1001.txt")
NAMES = ("Alice", "Bob", "Chloé", "O'Brien", "Zoë")
_counter = itertools.count()
_clients = itertools.count()
PROFILE = os.environ.get("RAMPART_LOAD_PROFILE", "flat")
if PROFILE not in ("flat", "paced"):
    raise ValueError(f"RAMPART_LOAD_PROFILE must be flat or paced, got {PROFILE!r}")
PACED = PROFILE == "paced"
USER_RPS = float(os.environ.get("RAMPART_LOAD_USER_RPS", "2"))


def _ok(status: int, *, expected: tuple[int, ...] = ()) -> bool:
    """Benign requests may legitimately 4xx (wrong password, unknown file) but never 403/429/5xx,
    unless the status is ``expected`` for this request."""
    return status in expected or (status < 500 and status not in (0, 403, 429))


class LabVisitor(FastHttpUser):
    """A shopper: browses, searches, logs in, comments. Weights follow a read-heavy shop."""

    wait_time = constant_throughput(USER_RPS) if PACED else between(0, 0)

    def on_start(self) -> None:
        self.identity = {"X-Forwarded-For": client_address(next(_clients))} if PACED else {}

    def _check(self, resp: Any, expected: tuple[int, ...]) -> None:
        if not _ok(resp.status_code, expected=expected):
            resp.failure(f"status {resp.status_code}")
        else:
            resp.success()

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, headers=self.identity, catch_response=True) as resp:
            self._check(resp, ())

    def _post(self, path: str, payload: dict[str, str], name: str, expected: tuple[int, ...] = ()) -> None:
        with self.client.post(
            path, json=payload, name=name, headers=self.identity, catch_response=True
        ) as resp:
            self._check(resp, expected)

    @task(6)
    def products(self) -> None:
        self._get(f"/api/products?category={random.choice(CATEGORIES)}", "GET /api/products")

    @task(3)
    def order(self) -> None:
        self._get(f"/api/orders?id={random.randint(1, 7)}", "GET /api/orders")

    @task(2)
    def search(self) -> None:
        self._get(f"/api/orders/search?item={random.choice(WORDS)}", "GET /api/orders/search")

    @task(2)
    def greet(self) -> None:
        self._get(f"/greet?name={random.choice(NAMES)}", "GET /greet")

    @task(1)
    def files(self) -> None:
        self._get(f"/api/files?name={random.choice(DOCS)}", "GET /api/files")

    @task(1)
    def checksum(self) -> None:
        self._get(f"/api/checksum?file={random.choice(UPLOADS)}", "GET /api/checksum")

    @task(1)
    def calc(self) -> None:
        self._get("/api/calc?expr=2*(3%2B4)", "GET /api/calc")

    @task(2)
    def login(self) -> None:
        self._post(
            "/api/login",
            {"username": "alice", "password": "not-her-password"},
            "POST /api/login",
            expected=(429,) if PACED else (),
        )

    @task(1)
    def comment(self) -> None:
        n = next(_counter)
        text = f"Great lamp, would buy again (review {n}). Select the union of comfort and price!"
        self._post("/api/comments", {"text": text}, "POST /api/comments")


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _budget(environment: Environment, **_: object) -> None:
    """Turn a failure-ratio budget into the exit code (``--failure-budget`` via env)."""
    budget = float(os.environ.get("RAMPART_LOAD_FAILURE_BUDGET", "1.0"))
    stats = environment.stats.total
    if stats.num_requests and stats.fail_ratio > budget:
        environment.process_exit_code = 3
