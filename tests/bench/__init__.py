"""The performance benchmark of generated services: `uv run python -m tests.bench`.

Not a test module (pytest collects nothing here); tests/test_bench.py checks its pure parts.
"""

import sys
from pathlib import Path

# The bench uses the test suite's harness (tests/harness), imported as the top-level package
# `harness` as the test modules import it (pytest puts tests/ on sys.path).
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
