"""The API docs at /docs work offline: the page loads only what this service serves."""

import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.main import create_app

# The files the page loads (<script src>, <link href>) and the schema Swagger UI fetches.
REFERENCE = re.compile(r"""(?:\bsrc|\bhref)="([^"]*)"|\burl: '([^']*)'""")
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


async def test_docs_load_only_same_origin_assets(client: AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = [src or url for src, url in REFERENCE.findall(page.text)]
    assert {reference.rsplit(".", 1)[-1] for reference in references} == {
        "js",
        "css",
        "png",
        "json",
    }, references
    for reference in references:
        parts = urlsplit(reference)
        assert not parts.scheme, f"/docs loads {reference} from another origin"
        assert not parts.netloc, f"/docs loads {reference} from another origin"
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        expected = CONTENT_TYPES[parts.path[parts.path.rfind(".") :]]
        assert asset.headers["content-type"].startswith(expected), (reference, asset.headers)
        assert int(asset.headers["content-length"]) > 0


async def test_docs_policy_admits_only_this_origin(client: AsyncClient) -> None:
    policy = (await client.get("/docs")).headers["Content-Security-Policy"]
    directives = dict(directive.strip().split(" ", 1) for directive in policy.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name].split()[0] == "'self'", policy
        assert "http" not in directives[name], policy


async def test_docs_are_not_served_outside_development(settings: Settings) -> None:
    production: FastAPI = create_app(settings.model_copy(update={"environment": "production"}))
    transport = ASGITransport(app=production)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/docs", "/docs/assets/swagger-ui-bundle.js"):
            assert (await client.get(path)).status_code == 404, path


async def test_docs_title_is_escaped(settings: Settings) -> None:
    named = create_app(settings.model_copy(update={"project_name": "</title><script>x()</script>"}))
    transport = ASGITransport(app=named)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        page = (await client.get("/docs")).text
    assert "<script>x()" not in page
    assert "&lt;/title&gt;&lt;script&gt;x()" in page
