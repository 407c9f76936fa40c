"""How generated projects run Copier: one version range, derived from copier.yml.

`_min_copier_version` in copier.yml is the oldest Copier the template supports; Copier itself
refuses older ones. Everything else that names Copier (the generated Makefile, scripts and CI
jobs, the README and the docs) uses the range derived here, up to the next major version, with
the extension package the template's `_jinja_extensions` need.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml
from copier_template_extensions import ContextHook

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent

# copier_template_extensions.TemplateExtensionLoader, which copier.yml loads first, and the
# ContextHook base class of this directory's hooks.
EXTENSIONS_REQUIREMENT = "copier-template-extensions>=0.3.4"


def copier_requirement(minimum: str) -> str:
    """`copier>=9.19,<10` for a minimum of 9.19.0: from it up to the next major version."""
    parts = minimum.split(".")
    floor = ".".join(parts[:2]) if parts[2:] in ([], ["0"]) else minimum
    return f"copier>={floor},<{int(parts[0]) + 1}"


def min_copier_version() -> str:
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text(encoding="utf-8"))
    return str(config["_min_copier_version"])


COPIER_REQUIREMENT = copier_requirement(min_copier_version())
# Shell commands: Copier's environment from PyPI through uvx, so nothing is installed into a
# project; `make template-check` runs its script with that environment's Python.
COPIER_UVX = shlex.join(["uvx", "--from", COPIER_REQUIREMENT, "--with", EXTENSIONS_REQUIREMENT])
COPIER_COMMAND = f"{COPIER_UVX} copier"


class CopierCommand(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        context["copier_requirement"] = COPIER_REQUIREMENT
        context["copier_extensions_requirement"] = EXTENSIONS_REQUIREMENT
        context["copier_uvx"] = COPIER_UVX
        context["copier_command"] = COPIER_COMMAND
