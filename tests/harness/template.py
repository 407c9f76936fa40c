"""The template repository itself: its root, copier.yml, and its extensions as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .files import load_yaml_documents

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent.parent


def load_copier_config() -> dict[str, Any]:
    """copier.yml as one mapping (copier allows several YAML documents)."""
    config: dict[str, Any] = {}
    for document in load_yaml_documents((TEMPLATE_ROOT / "copier.yml").read_text()):
        if isinstance(document, dict):
            config.update(document)
    return config


def load_module(name: str, path: Path) -> ModuleType:
    """A module of the template's own (extensions/), imported from its file under `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
