"""tipsd.sweep: study specs, Optuna sweeps, storage, workers and the `tipsd` command line."""


def version() -> str:
    """The installed tipsd version (from the package metadata), recorded in every study and trial."""
    from importlib.metadata import PackageNotFoundError, version as _v

    try:
        return _v("tipsd")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
