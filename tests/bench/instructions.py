"""Instructions a generated service spends on one request, counted by callgrind.

CPU time per request moves with whatever else the machine runs; the number of instructions the
process executes for the same requests does not (valgrind counts them, whatever the load). The
benchmark runs this script once per scenario under `valgrind --tool=callgrind
--instr-atstart=no`, with a rendered project's interpreter and settings: it builds the
application as production does, signs up a user and creates an item through it (ASGI calls,
no server, no socket), warms the scenario up, prints `ready` and waits for a line on stdin.
Meanwhile the benchmark switches counting on (`callgrind_control -i on`), then sends that line;
the script makes REQUESTS requests and exits at once, so what was counted is those requests:
the application, its middleware, its Redis and database clients, the event loop.

`--against bare` sends the health request to bare_app.py, the framework alone; `--against
floor` the item read to floor_app.py, the token check and one asyncpg query.
"""

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from starlette.types import ASGIApp, Message

SCENARIOS = ("health", "read_item", "list_items")
WARMUP_REQUESTS = 50
PASSWORD = "instructions-password-1234"


def scope(method: str, path: str, *, query: bytes = b"", token: str = "") -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: ASGIApp, request: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(request, receive, send)
    return status, b"".join(chunks)


async def post(
    app: ASGIApp, path: str, body: bytes, content_type: bytes, status: int, token: str = ""
) -> Any:
    """POST `body`; its answer's JSON, once it is found to have `status`."""
    request = scope("POST", path, token=token)
    request["headers"] += [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
    ]
    answered, answer = await call(app, request, body)
    if answered != status:
        raise SystemExit(f"POST {path} answered {answered}, not {status}: {answer[:300]!r}")
    return json.loads(answer)


async def seed(app: ASGIApp) -> tuple[str, str]:
    """A user of its own and an item of theirs; returns an access token and the item's id."""
    email = f"instructions-{secrets.token_hex(6)}@example.com"
    signup = json.dumps({"email": email, "password": PASSWORD}).encode()
    await post(app, "/api/v1/auth/signup", signup, b"application/json", 201)
    form = f"username={email}&password={PASSWORD}".encode()
    login = await post(app, "/api/v1/auth/login", form, b"application/x-www-form-urlencoded", 200)
    token = str(login["access_token"])
    item = json.dumps({"title": "Counted item", "description": "By instructions.py."}).encode()
    created = await post(app, "/api/v1/items", item, b"application/json", 201, token)
    return token, str(created["id"])


async def count(
    app: ASGIApp, scenario: str, requests: int, *, token: str = "", item_id: str = ""
) -> None:
    make: Callable[[], dict[str, Any]] = {
        "health": lambda: scope("GET", "/health/live"),
        "read_item": lambda: scope("GET", f"/api/v1/items/{item_id}", token=token),
        "list_items": lambda: scope("GET", "/api/v1/items", query=b"limit=20", token=token),
    }[scenario]
    for _ in range(WARMUP_REQUESTS):
        status, answer = await call(app, make())
        if status != 200:
            raise SystemExit(f"{scenario} answered {status}: {answer[:300]!r}")
    print("ready", file=sys.stderr, flush=True)
    sys.stdin.readline()
    for _ in range(requests):
        await call(app, make())
    os._exit(0)  # counting stops with the process: no shutdown in the figure


async def main(scenario: str, requests: int, against: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if against == "bare":
        from bare_app import app as bare

        await count(bare, scenario, requests)
        return
    from app.main import create_app

    project = create_app()
    async with project.router.lifespan_context(project):
        token, item_id = await seed(project) if scenario != "health" else ("", "")
        if against == "floor":
            from floor_app import app as floor

            async with floor.router.lifespan_context(floor):
                await count(floor, scenario, requests, token=token, item_id=item_id)
        await count(project, scenario, requests, token=token, item_id=item_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("requests", type=int)
    parser.add_argument(
        "--against",
        choices=("project", "bare", "floor"),
        default="project",
        help="the application the requests go to: the project's, bare_app.py or floor_app.py "
        "(which reads the item the project's application seeded)",
    )
    arguments = parser.parse_args()
    # The access log lines go where production sends them, a stream: here, nowhere.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    uvloop.run(main(arguments.scenario, arguments.requests, arguments.against))
