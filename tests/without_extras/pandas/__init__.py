"""Hidden from the tests' command-line subprocesses: see tests/without_extras/README.md."""

raise ImportError("pandas (installed only with the mlflow extra) is hidden from the tests' command-line subprocesses")
