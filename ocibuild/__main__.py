"""``python -m ocibuild``: the same as the ``ocibuild`` command."""

from __future__ import annotations

from ocibuild.cli import run

if __name__ == "__main__":
    run()
