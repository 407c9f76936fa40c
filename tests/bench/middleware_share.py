"""What each middleware of a generated service adds to a request, in CPU microseconds.

The benchmark runs this with a rendered project's interpreter and settings. It builds the
application as production does and sends `GET /health/live` straight to it as ASGI calls (no
server, no socket): first with every middleware, then without each one in turn, then without
any. A middleware's share is what removing it saves; `framework` is what is left with none.

Prints one JSON object. Stand-alone, from the project's directory with its settings:
`PYTHONPATH=. .venv/bin/python <template>/tests/bench/middleware_share.py [REQUESTS]`.
"""

import json
import os
import sys
import time
from typing import Any

import uvloop
from app.main import create_app
from starlette.types import ASGIApp, Message

WARMUP_REQUESTS = 500
ROUNDS = 3
"""Every configuration is measured once per round and keeps its least CPU: other work on the
machine only ever adds to a figure."""


def health_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health/live",
        "raw_path": b"/health/live",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise RuntimeError(f"GET /health/live answered {message['status']}")


async def cpu_us_per_request(app: ASGIApp, requests: int) -> float:
    for _ in range(WARMUP_REQUESTS):
        await app(health_scope(), receive, send)
    started = time.process_time()
    for _ in range(requests):
        await app(health_scope(), receive, send)
    return round((time.process_time() - started) / requests * 1_000_000, 1)


def application(without: frozenset[str] = frozenset()) -> ASGIApp:
    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in without]
    return app


async def measure(requests: int) -> dict[str, float]:
    names = [middleware.cls.__name__ for middleware in create_app().user_middleware]
    # Left out of each configuration: none, each middleware alone, all of them.
    configurations = {"all": frozenset(), **{n: frozenset({n}) for n in names}}
    configurations["framework"] = frozenset(names)
    least: dict[str, float] = {}
    for _ in range(ROUNDS):
        for label, without in configurations.items():
            cost = await cpu_us_per_request(application(without), requests)
            least[label] = min(cost, least.get(label, cost))
    shares = {"all": least["all"]}
    shares |= {name: round(least["all"] - least[name], 1) for name in names}
    shares["framework"] = least["framework"]
    return shares


if __name__ == "__main__":
    # The access log lines go where production sends them, a stream: here, nowhere.
    stdout = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    shares = uvloop.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
    os.dup2(stdout, 1)
    print(json.dumps(shares), file=sys.stdout, flush=True)
