"""The error ocibuild.layer raises for a layer it refuses to unpack."""

from __future__ import annotations

from ocibuild.errors import UserError

__all__ = ["LayerError"]


class LayerError(UserError):
    """A layer tar is hostile or malformed: ``layer sha256:...: entry ../x escapes the root``.

    A user error because the fix is outside ocibuild (a different base image
    or a repaired layer), and the one line says which entry was refused.
    """
