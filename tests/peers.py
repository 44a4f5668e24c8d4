"""Finding the real peers the integration tests talk to.

Locally a missing peer skips its tests, naming what is missing. Under CI (``CI=true``) a
missing peer is a failure: CI installs every peer, so its absence is a broken set-up.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_peer(what: str) -> None:
    """Skip (locally) or fail (under CI) because the peer `what` is missing."""
    message = f"real peer missing: {what}"
    if under_ci():
        pytest.fail(message + " (CI=true: a missing peer fails the run)")
    pytest.skip(message)  # the message names the missing peer


def require_binary(name: str) -> str:
    """Path of the executable `name`, looked up on PATH and beside the running interpreter."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        missing_peer(f"executable {name!r} not found on PATH")
        raise AssertionError("unreachable")
    return found
