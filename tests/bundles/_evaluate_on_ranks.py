"""Run under torchrun: resolve every id of a bundle's evaluation configs (multi_gpu_evaluate.json included), then
run ``evaluating``. Argument: a JSON file with ``config_file`` and the overrides."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from monai.bundle import ConfigWorkflow

from tests.bundles.test_new_user import _all_ids

if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    workflow = ConfigWorkflow(workflow_type=None, run_id="evaluating", **spec)
    workflow.initialize()
    ids = list(_all_ids(workflow.parser.get()))
    for id_ in ids:
        workflow.parser.get_parsed_content(id_)
    workflow.run()
    workflow.finalize()
    print(f"resolved {len(ids)} ids")
