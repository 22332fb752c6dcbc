"""``python -m ocibuild``: the same as the ``ocibuild`` command."""

from __future__ import annotations

import sys

from ocibuild.cli import main

if __name__ == "__main__":
    sys.exit(main())
