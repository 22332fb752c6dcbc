"""Validation of documents against the OCI image-spec JSON schemas (for tests).

The schemas live in the repository's ``schemas/`` directory (draft-04, with
relative ``$ref`` s such as ``content-descriptor.json``, as the spec writes
them).  Each is registered in a :class:`referencing.Registry` under its ``id``
and under the file-name aliases those relative references resolve to.
Runtime code never calls this; ``jsonschema`` is imported lazily.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from referencing import Registry

__all__ = ["KINDS", "schema_dir", "validate"]

#: Document kinds and their schema files.
KINDS = {
    "config": "config-schema.json",
    "descriptor": "content-descriptor.json",
    "index": "image-index-schema.json",
    "layout": "image-layout-schema.json",
    "manifest": "image-manifest-schema.json",
}
_BASES = ("https://opencontainers.org/schema/", "https://opencontainers.org/schema/image/")


def schema_dir() -> Path:
    """The ``schemas/`` directory of the source checkout this package lives in."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "schemas"
        if (candidate / KINDS["manifest"]).is_file():
            return candidate
    raise FileNotFoundError(f"no schemas/ directory above {here}")


@cache
def _registry() -> tuple[Registry[Any], dict[str, Any]]:
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    registry: Registry[Any] = Registry()
    documents: dict[str, Any] = {}
    for path in sorted(schema_dir().glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = DRAFT4.create_resource(contents)
        names = [contents["id"], *(base + path.name for base in _BASES)]
        registry = registry.with_resources((name, resource) for name in names)
        documents[path.name] = contents
    return registry.crawl(), documents


def validate(kind: str, obj: Any) -> None:
    """Check ``obj`` (parsed JSON, or bytes/str of it) against the schema for ``kind``.

    Raises :class:`jsonschema.ValidationError` when it does not conform and
    :class:`KeyError` for an unknown ``kind``.
    """
    import jsonschema  # type: ignore[import-untyped]

    if isinstance(obj, bytes | str):
        obj = json.loads(obj)
    registry, documents = _registry()
    schema = documents[KINDS[kind]]
    validator = jsonschema.Draft4Validator(
        schema, registry=registry, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        raise error
