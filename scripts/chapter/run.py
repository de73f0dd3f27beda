"""Runs the chapter's examples and exercises, checked against the book.

Usage: `python scripts/chapter/run.py [SECTION ...|all] [--list]`; the same as
`tfconv chapter`. Exit status 0 when everything matches, 1 on a mismatch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parses `argv` and runs the sections (all logic lives in `tfconv.chapter`)."""
    from tfconv import chapter

    return chapter.main(argv, prog="run.py")


if __name__ == "__main__":
    sys.exit(main())
