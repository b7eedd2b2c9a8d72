"""``python -m benchmarks``: every benchmark at a stated size, results in benchmarks/RESULTS.md (see run_all)."""

import sys

from benchmarks.run_all import main

sys.exit(main())
