"""The application served by a real uvicorn server, in the test's event loop.

An in-process client cannot show what the server does around the application: what it logs
when an exception reaches it, and whether it keeps the client's connection open.
"""

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI


@asynccontextmanager
async def live_server(app: FastAPI) -> AsyncIterator[tuple[str, int]]:
    """Serve `app` (lifespan included) on a free local port; yields the server's address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        # log_config=None: uvicorn's records go to the application's logging, as in production.
        server = uvicorn.Server(uvicorn.Config(app, log_config=None))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    if serving.done():
                        await serving  # raises why it did not start
                    await asyncio.sleep(0.01)
            yield sock.getsockname()
        finally:
            server.should_exit = True
            await serving


def logged_events(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The lines logged to standard output since the last call, from an application built with
    `log_json=True`, the server's lines included."""
    return [json.loads(line) for line in capfd.readouterr().out.splitlines()]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: str
    body: bytes


class Connection:
    """One HTTP/1.1 keep-alive connection, read byte by byte as the server sent it: an HTTP
    client library would open a new connection when the server closes one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, path: str) -> Answer:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        await self.writer.drain()
        async with asyncio.timeout(10):
            try:
                head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            except asyncio.IncompleteReadError as error:
                raise AssertionError("the server closed the connection") from error
            length = re.search(r"(?im)^content-length: (\d+)\r$", head)
            assert length is not None, head
            body = await self.reader.readexactly(int(length[1]))
        return Answer(status=int(head.split()[1]), headers=head, body=body)


@asynccontextmanager
async def connect(address: tuple[str, int]) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        yield Connection(reader, writer)
    finally:
        writer.close()
        await writer.wait_closed()
