"""The performance benchmark of generated services: `uv run python -m tests.bench`.

Not a test module (pytest collects nothing here); tests/test_bench.py checks its pure parts.
"""

import sys
from pathlib import Path

# The bench reuses the test suite's helpers, which import each other as top-level modules
# (`from conftest import ...`), as pytest's rootdir-relative imports let them.
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
