"""Hidden from the tests' command-line subprocesses: see tests/without_extras/README.md."""

raise ImportError("mlflow (an optional extra) is hidden from the tests' command-line subprocesses")
