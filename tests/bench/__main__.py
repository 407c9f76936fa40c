import sys

import pytest

from .run import BenchError, main

try:
    sys.exit(main())
except (BenchError, pytest.fail.Exception) as error:
    # The test suite's helpers report a failed command as a pytest failure.
    sys.exit(f"the benchmark failed: {error}")
