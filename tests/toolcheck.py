"""External programs for integration tests: skip without them, but never under CI.

CI (``CI`` set, see ``.ci/run``) installs every program the tests use; a missing one there
is a failure, so an integration test can never pass by skipping in CI.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """The path of an external program; skip without it, unless CI is set (then fail)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI but is not installed")
    pytest.skip(f"{name} is not installed")
