"""The errors ocibuild.layer raises for a layer it refuses to unpack."""

from __future__ import annotations

from ocibuild.errors import UserError

__all__ = ["CorruptCompression", "LayerError"]


class LayerError(UserError):
    """A layer tar is hostile or malformed: ``layer sha256:...: entry ../x escapes the root``.

    A user error because the fix is outside ocibuild (a different base image
    or a repaired layer), and the one line says which entry was refused.
    """


class CorruptCompression(LayerError):
    """A compressed layer stream does not decompress: ``corrupt gzip stream: ...``.

    Raised while reading from :func:`ocibuild.layer.compress.decompressed`;
    :func:`ocibuild.layer.extract.apply_layer` adds the layer's label.
    """
