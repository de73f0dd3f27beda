"""`python -m tfconv.cli`: the `tfconv` command."""

import sys

from tfconv.cli import main

if __name__ == "__main__":  # runpy runs this module as __main__; a plain import runs nothing
    sys.exit(main())
