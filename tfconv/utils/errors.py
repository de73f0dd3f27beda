"""The errors tfconv raises on purpose, so that callers (and the CLI) can tell
a user's mistake from a bug: each maps to a one-line message and exit code 2.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad run configuration, output folder or data set, found before work starts."""
