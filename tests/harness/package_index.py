"""What the package index this machine reaches serves (PyPI itself or a mirror)."""

from __future__ import annotations

import functools
import json
import urllib.request

PYPI_SIMPLE = "https://pypi.org/simple/"
PYPI_JSON = "https://pypi.org/pypi/"


@functools.cache
def pypi_serves_poetry() -> bool:
    """Whether PyPI answers the JSON requests Poetry's PyPI source makes, as pypi.org does.

    Poetry finds versions in the simple API's JSON form (PEP 691) and reads each release from
    `/pypi/<name>/<version>/json`. A mirror or proxy that lacks either (this template's own
    machines reach PyPI through one; what it lacks has changed over time) breaks `poetry lock`
    with "Package ... not found", though pip and uv are fine with it.
    """
    simple = urllib.request.Request(
        f"{PYPI_SIMPLE}pip/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(simple, timeout=30) as response:
            if "json" not in response.headers.get("Content-Type", ""):
                return False
        with urllib.request.urlopen(f"{PYPI_JSON}pip/json", timeout=30) as response:
            version = json.load(response)["info"]["version"]
        with urllib.request.urlopen(f"{PYPI_JSON}pip/{version}/json", timeout=30) as response:
            return response.status == 200
    except (OSError, ValueError, KeyError):
        return False
