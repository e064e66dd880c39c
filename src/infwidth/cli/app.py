"""The ``infwidth`` Typer application that every subcommand module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="infwidth",
    help="Feature learning in infinite-width networks: classify abc-parametrizations, build "
    "muP networks, check coordinates, compute kernel and feature-learning limits, reproduce "
    "Word2Vec and MAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """infwidth: feature learning in infinite-width neural networks."""
