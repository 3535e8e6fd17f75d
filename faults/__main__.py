"""`python -m faults`: run the fault proxy."""

import sys

from faults.cli import main

sys.exit(main())
