"""Rename a setting in a generated project's `.env`: a `_migrations` step of `copier update`.

Copier never touches `.env` after generation (`_skip_if_exists`), so when a template release
renames a setting, the template's own files change with the update and this script renames the
setting in the developer's `.env`, keeping its value:

    python rename_env_setting.py CORS_ORIGINS CORS_ALLOW_ORIGINS [--file .env]

It runs in the project directory, needs nothing but the standard library and no network, and
is idempotent: a file without the old name, or one that already sets the new name, is left as
it is, so running it twice gives the same result as running it once.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def assignment(name: str) -> re.Pattern[str]:
    """`NAME=...` or `export NAME=...` at the start of a line (comments are not settings)."""
    return re.compile(rf"^(?P<prefix>[ \t]*(?:export[ \t]+)?){re.escape(name)}(?=[ \t]*=)", re.M)


def rename(text: str, old: str, new: str) -> str:
    """`text` with the assignments of `old` renamed to `new`, unless `new` is already set."""
    if assignment(new).search(text):
        return text
    return assignment(old).sub(lambda match: match["prefix"] + new, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the setting's former name")
    parser.add_argument("new", help="the setting's new name")
    parser.add_argument("--file", type=Path, default=Path(".env"), help="default: .env")
    args = parser.parse_args(argv)

    path: Path = args.file
    if not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8")
    renamed = rename(text, args.old, args.new)
    if renamed == text:
        if assignment(args.old).search(text):
            sys.stdout.write(f"{path}: {args.new} is already set; {args.old} is left as it is\n")
        return 0
    path.write_text(renamed, encoding="utf-8")
    sys.stdout.write(f"{path}: renamed {args.old} to {args.new}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
