"""``python -m snoopbench``: the same command as the console script."""

import sys

from snoopbench.benchmarks.cli import main

sys.exit(main())
