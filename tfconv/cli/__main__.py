"""`python -m tfconv.cli`: the `tfconv` command."""

import sys

from tfconv.cli import main

sys.exit(main())
