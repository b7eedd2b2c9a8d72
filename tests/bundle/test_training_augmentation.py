"""Each bundle's training items are augmented as a function of their own seed: the same seed, the same item;
other seeds, other draws. A patch dataset once asked its Compose for its truth value (its len(), which builds a
flattened Compose and so re-seeds every random transform from MONAI's global seed): after the run's
set_determinism every glacier patch got the same dihedral symmetry."""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai.transforms import Compose

from monai_pipelines.data.epoch_seeded_sampler import ItemSeededDataset, SeededIndex
from monai_pipelines.handlers.rng_state import collect_randomizables
from tests.bundles.runner import BUNDLES, configs
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training

#: no random transform in its data pipeline (its randomness is the curriculum's missing-sequence scenarios per batch)
NO_AUGMENTATION = {"mmgan_missing_modality"}
#: augmentation that is off by default (pix2pix's flips: the source document trains without), switched on to test
ON = {"ct_phase_pix2pix": {"flip_prob": 0.5}}


def _first_tensor(item) -> torch.Tensor:
    item = item[0] if isinstance(item, list) else item
    return torch.as_tensor(next(v for v in item.values() if isinstance(v, torch.Tensor) and v.ndim >= 3)).clone()


@pytest.mark.parametrize("bundle", BUNDLES)
def test_items_vary_with_their_seed_and_only_with_it(bundle, tmp_path):
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {}),
                 **ON.get(bundle, {}), "output_dir": str(tmp_path / "run")}
    workflow = ConfigWorkflow(config_file=configs(bundle, "train.json")[0], workflow_type="train",
                              logging_file=False, **overrides)
    workflow.initialize()  # the run's set_determinism included
    dataset = workflow.parser.get_parsed_content("train#dataloader").dataset
    assert isinstance(dataset, ItemSeededDataset)
    random_transforms = [t for t in collect_randomizables(dataset.dataset) if not isinstance(t, Compose)]
    assert bool(random_transforms) == (bundle not in NO_AUGMENTATION), random_transforms
    index = next(iter(workflow.parser.get_parsed_content("train#dataloader").sampler)).index
    items = [_first_tensor(dataset[SeededIndex(index, seed)]) for seed in range(10)]
    torch.testing.assert_close(_first_tensor(dataset[SeededIndex(index, 3)]), items[3], rtol=0, atol=0)
    distinct = {tuple(item.flatten()[::7][:200].tolist()) for item in items}
    assert len(distinct) == 1 if bundle in NO_AUGMENTATION else len(distinct) > 1, f"{bundle}: {len(distinct)} items"
