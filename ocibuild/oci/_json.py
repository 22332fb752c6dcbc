"""Canonical JSON bytes for every document ocibuild writes.

Sorted keys, compact separators, UTF-8, and Go's ``encoding/json`` escaping of
``<``, ``>``, ``&``, U+2028 and U+2029 (so history strings read the same as in
images BuildKit writes).  Parsing helpers that turn malformed input into
:class:`InvalidDocumentError` live here too.
"""

from __future__ import annotations

import json
from typing import Any

from ocibuild.errors import UserError

__all__ = ["InvalidDocumentError", "canonical", "load_object"]

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class InvalidDocumentError(UserError):
    """A manifest, index or config could not be read as the expected JSON."""


def canonical(obj: Any) -> bytes:
    """Serialise ``obj`` the one way ocibuild always does."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # These characters can only occur inside JSON strings, so replacing them
    # textually is the same as escaping them in every string.
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def load_object(data: bytes | str, what: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object or raise :class:`InvalidDocumentError`."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidDocumentError(f"invalid {what} JSON: {err}") from None
    if not isinstance(obj, dict):
        raise InvalidDocumentError(f"invalid {what} JSON: expected an object")
    return obj
