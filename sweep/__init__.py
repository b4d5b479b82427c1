"""tipsd.sweep: study specs, Optuna sweeps, storage, workers and the `tipsd` command line."""
