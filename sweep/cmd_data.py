"""`tipsd` subcommands for data (see tipsd.sweep.cli for the registration protocol)."""


def register(subparsers) -> None:
    """Add this module's subcommands to the `tipsd` parser (none yet)."""
