"""`tfconv variants`: list the model variants and their recipes."""

from __future__ import annotations

import argparse

from tfconv.cli.common import Command


def run(args: argparse.Namespace) -> int:
    """Prints one line per registered variant."""
    from tfconv import models

    for name in models.list_variants():
        recipe = models.get_recipe(name)
        what = f"{recipe.optimizer}, lr {recipe.lr:g}, {recipe.schedule}"
        print(f"{name:16s} {models.DESCRIPTIONS[name]}  [recipe: {what}]")
    return 0


COMMANDS = (
    Command(
        name="variants",
        help="list the model variants",
        description=None,
        add_arguments=lambda p: None,
        run=run,
    ),
)
