"""The smoke client: a running stack exercised over HTTP as the answers shape it.

Readiness, then signup and login (or a token from the identity provider, or an API key), the
items domain, and a task the API queues (or `celery call` publishes) that the worker completes.
With accounts, the welcome email signup sends (by the worker, or by the API without a broker)
is found in the stack's mail catcher, addressed to the new user, and its verification link is
followed. The native run and the container runs use it alike: they pass how to read the
worker's log, how to run a command in a service and where the mail catcher's web API answers.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from .mail_catcher import query_value, wait_for_message

TASK_TIMEOUT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 15


def http(
    method: str,
    url: str,
    *,
    body: Mapping[str, Any] | None = None,
    form: Mapping[str, str] | None = None,
    token: str | None = None,
    api_key: str | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON body or text) of one request."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if api_key:
        headers["X-API-Key"] = api_key
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def expect(status: int, payload: Any, wanted: int, what: str) -> Any:
    assert status == wanted, f"{what}: HTTP {status}, expected {wanted}: {payload}"
    return payload


HEARTBEAT_TASK = "app.core.heartbeat.heartbeat"


def task_completed(worker_log: str, event: str, marker: str, task: str) -> bool:
    """The worker logged `event` on a line holding `marker`, then `task` succeeded."""
    lines = worker_log.splitlines()
    logged = [i for i, line in enumerate(lines) if event in line and marker in line]
    return bool(logged) and any(task in line and "succeeded" in line for line in lines[logged[0] :])


def wait_for_task(worker_log: Callable[[], str], what: str, *completion: str) -> None:
    deadline = time.monotonic() + TASK_TIMEOUT_SECONDS
    while not task_completed(worker_log(), *completion):
        if time.monotonic() > deadline:
            tail = "\n".join(worker_log().splitlines()[-30:])
            pytest.fail(
                f"the worker did not complete {what} within {TASK_TIMEOUT_SECONDS}s"
                f"\n--- worker log ---\n{tail}",
                pytrace=False,
            )
        time.sleep(0.5)


def smoke_test(
    base_url: str,
    answers: Mapping[str, Any],
    superuser: tuple[str, str] | None,
    worker_log: Callable[[], str],
    service_exec: Callable[[str, list[str]], str],
    oidc_token: str | None = None,
    api_key: str | None = None,
    mail_url: str | None = None,
) -> list[str]:
    """Exercise the running stack as the answers shape it; returns what was checked.

    `service_exec` runs a command in a service, as `docker compose exec` does, and returns its
    output. `oidc_token`, with auth=oidc, is a token from the identity provider the stack
    trusts; without one only the refusal of a call without a token is checked. `api_key` is the
    key the stack's settings admit, when the keys are settings. `mail_url` is the base URL of
    the stack's MailDev web API, which a stack with accounts has.
    """
    checked = []
    status, ready = http("GET", f"{base_url}/health/ready")
    expect(status, ready, 200, "GET /health/ready")
    checked.append(f"ready {ready.get('checks')}")

    auth, broker = answers.get("auth", "none"), answers.get("broker", "none")
    token, marker = None, uuid.uuid4().hex
    if auth == "jwt":
        email, password = f"smoke-{marker}@example.com", f"Smoke-{marker}"
        user = http(
            "POST",
            f"{base_url}/api/v1/auth/signup",
            body={"email": email, "password": password, "full_name": f"Smoke {marker}"},
        )
        expect(*user, 201, "signup")
        status, tokens = http(
            "POST", f"{base_url}/api/v1/auth/login", form={"username": email, "password": password}
        )
        token = expect(status, tokens, 200, "login")["access_token"]
        status, me = http("GET", f"{base_url}/api/v1/users/me", token=token)
        assert expect(status, me, 200, "GET /users/me")["email"] == email
        checked.append("signup, login, /users/me")
        if superuser:
            form = {"username": superuser[0], "password": superuser[1]}
            status, tokens = http("POST", f"{base_url}/api/v1/auth/login", form=form)
            admin = expect(status, tokens, 200, "login as the superuser migrate created")
            status, users = http("GET", f"{base_url}/api/v1/users", token=admin["access_token"])
            expect(status, users, 200, "GET /users as the superuser")
            checked.append("superuser from migrate")
    elif auth == "oidc":
        status, refused = http("GET", f"{base_url}/api/v1/me")
        expect(status, refused, 401, "GET /me without a token")
        checked.append("/me refused without a token")
        if oidc_token:
            token = oidc_token
            status, me = http("GET", f"{base_url}/api/v1/me", token=token)
            assert "items:write" in expect(status, me, 200, "GET /me")["permissions"]
            checked.append("/me with a token from the local identity provider")
    elif auth == "api_key":
        if api_key is None:
            command = ["python", "-m", "app.cli", "create-api-key", f"smoke-{marker}"]
            api_key = service_exec("api", command).strip().splitlines()[-1]
            checked.append("an API key created by the CLI in the api service")
        status, refused = http("GET", f"{base_url}/api/v1/api-keys/me")
        expect(status, refused, 401, "GET /api-keys/me without a key")
        status, me = http("GET", f"{base_url}/api/v1/api-keys/me", api_key=api_key)
        expect(status, me, 200, "GET /api-keys/me with the key")
        checked.append(f"/api-keys/me as {me['name']}")
    elif auth != "none":
        pytest.fail(f"the smoke test does not know how to authenticate with auth={auth!r}")

    if answers.get("include_examples") and (auth != "oidc" or token):
        items = f"{base_url}/api/v1/items"
        title = f"Smoke item {marker}"
        status, item = http("POST", items, body={"title": title}, token=token, api_key=api_key)
        item_id = expect(status, item, 201, "create an item")["id"]
        status, found = http("GET", f"{items}/{item_id}", token=token, api_key=api_key)
        assert expect(status, found, 200, "read the item")["title"] == title
        status, page = http("GET", f"{items}?q={marker}", token=token, api_key=api_key)
        assert [i["id"] for i in expect(status, page, 200, "search items")["items"]] == [item_id]
        status, gone = http("DELETE", f"{items}/{item_id}", token=token, api_key=api_key)
        expect(status, gone, 204, "delete the item")
        status, missing = http("GET", f"{items}/{item_id}", token=token, api_key=api_key)
        expect(status, missing, 404, "read the deleted item")
        checked.append("items create, read, search, delete")

    if auth == "jwt":
        assert mail_url, "a stack with accounts has a mail catcher: pass its web API's URL"
        sender = "the worker" if broker != "none" else "the API"
        try:
            message = wait_for_message(mail_url, email, TASK_TIMEOUT_SECONDS)
        except AssertionError as error:
            tail = "\n".join(worker_log().splitlines()[-30:]) if broker != "none" else ""
            pytest.fail(f"signup's welcome email, sent by {sender}: {error}\n{tail}", pytrace=False)
        assert str(message.get("subject", "")).startswith("Welcome"), message.get("subject")
        links = re.findall(r"https?://\S+/verify-email\?token=\S+", str(message.get("text")))
        assert links, f"the welcome email holds no verification link:\n{message.get('text')}"
        body = {"token": query_value(links[0], "token")}
        status, verified = http("POST", f"{base_url}/api/v1/auth/verify-email", body=body)
        expect(status, verified, 204, "POST /auth/verify-email with the emailed token")
        status, me = http("GET", f"{base_url}/api/v1/users/me", token=token)
        assert expect(status, me, 200, "GET /users/me")["email_verified_at"], me
        checked.append(f"welcome email sent by {sender}, read from MailDev, its link followed")
    elif broker != "none":
        service_exec("worker", ["celery", "-A", "app.core.celery_app", "call", HEARTBEAT_TASK])
        completion = ("worker_heartbeat", "ran_at", HEARTBEAT_TASK)
        wait_for_task(worker_log, "the heartbeat task published from its container", *completion)
        checked.append("a heartbeat published by `celery call` run by the worker")
    return checked
