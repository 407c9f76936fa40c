"""Conservative security headers for a JSON API: which headers a response carries."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# The interactive docs (development only, app/api/docs.py) run Swagger UI, which this service
# serves itself: scripts, styles, images and the schema come from the same origin and nowhere
# else. The page starts Swagger UI from an inline script and Swagger UI sets inline styles.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
HSTS = "max-age=63072000"


def security_headers(path: str, *, hsts: bool) -> dict[str, str]:
    """The headers a response to `path` carries. The middleware adds them; so does the handler
    of unexpected errors, whose 500 is answered outside the middleware stack."""
    headers = dict(SECURITY_HEADERS)
    if path in DOCS_PATHS:
        headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return headers
