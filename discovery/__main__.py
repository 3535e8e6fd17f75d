"""`python -m discovery upstream|serve`."""

from __future__ import annotations

import sys

from discovery.cli import main

if __name__ == "__main__":
    sys.exit(main())
