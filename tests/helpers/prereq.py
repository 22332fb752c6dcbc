"""Prerequisite handling shared by conftest.py and test modules.

Test modules import these from here, never from ``conftest`` (several
conftest.py files exist, and a bare ``import conftest`` picks whichever
pytest loaded first).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip for a missing prerequisite; fail instead when CI=true."""
    if in_ci():
        pytest.fail(f"prerequisite missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
