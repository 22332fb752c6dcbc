"""Options for the unit tests: ``--update-golden`` rewrites golden files.

Run it on the golden test itself so this conftest is loaded at startup:
``python -m pytest tests/unit/test_parse_golden.py --update-golden``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/cases/**/expected.* from the current output (review the diff)",
    )
