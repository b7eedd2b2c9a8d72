"""Hidden from the tests' command-line subprocesses: see tests/without_extras/README.md."""

raise ImportError("scikit-image (a test and onnx extra) is hidden from the tests' command-line subprocesses")
