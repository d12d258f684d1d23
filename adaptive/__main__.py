"""``python -m adaptive kt ...``: the engine's CLI without the web app."""

from __future__ import annotations

import click

from adaptive.cli import kt


@click.group()
def main() -> None:
    """adaptive-lti engine commands."""


main.add_command(kt)

if __name__ == "__main__":
    main()
