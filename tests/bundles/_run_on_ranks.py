"""Run under torchrun: resolve every id of a bundle command's configs (multi_gpu_train.json or
multi_gpu_evaluate.json included) on every rank, then run the command. Argument: a JSON file with ``run_id``,
``config_file`` and the overrides. The workflow lives in ``main`` as in ``python -m monai.bundle run``, so that it is
released before the interpreter exits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from monai.bundle import ConfigWorkflow

from tests.bundles.test_new_user import _all_ids


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    workflow = ConfigWorkflow(workflow_type=None, **spec)
    workflow.initialize()
    ids = list(_all_ids(workflow.parser.get()))
    for id_ in ids:
        workflow.parser.get_parsed_content(id_)
    workflow.run()
    workflow.finalize()
    print(f"resolved {len(ids)} ids")


if __name__ == "__main__":
    main(sys.argv[1])
