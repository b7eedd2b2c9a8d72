"""Every bundle's inference computes in the precision and memory format it is asked for, as its evaluation does.

glacier's fold-ensemble inference runs its own loop rather than the evaluator that applies the run's settings, and
computed in fp32 with contiguous weights whatever ``--amp`` and ``--channels_last`` said (its bf16 default on a CPU
with native bf16 included): its outputs with ``--amp true`` and ``--amp false`` were the same bytes. Here each bundle
trains one tiny epoch, then infers on one held-out input twice, in fp32 and in bf16 with channels-last: the numbers
written must differ (bf16 rounding) and stay close, and the second run's network must be made channels-last.

The same commands show a user no library's FutureWarning (glioma's configs built MONAI's Orientationd without
``labels``, and every glioma command printed MONAI's notice that its default changes).
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines.engines import amp as amp_module
from monai_pipelines.engines.amp import cpu_has_native_bf16
from tests.bundles.runner import BUNDLES, run_bundle
from tests.bundles.test_multi_gpu_train import BUNDLES as TINY_SETUPS
from tests.bundles.test_new_user import END_TO_END, _held_out_image, _phantom_t2_pd

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not cpu_has_native_bf16(), reason="bf16 is emulated on this CPU: amp computes fp32")]


def _inference_args(bundle: str, ckpt: Path, settings: dict, tmp: Path) -> dict:
    """The checkpoint and one held-out input of the trained run, as inference.json takes them."""
    if bundle == "mmgan_missing_modality":
        return {"ckpt_path": str(ckpt), **_phantom_t2_pd(tmp / "raw"), "png": False}
    if bundle == "glacier_segmentation":
        return {"ckpt_paths": [str(ckpt)], "input_path": _held_out_image(settings, "image"), "tta_rot90": False,
                "overlay": False, "save_probabilities": True}
    key = {"mri_to_ct_unet3d": "image", "glioma_grade_resnet50_3d": "flair"}.get(bundle)
    return {"ckpt_path": str(ckpt), "input_path": _held_out_image(settings, key)}


def _numbers(folder: Path) -> dict[str, np.ndarray]:
    """Every numeric output of an inference: NIfTI volumes, .npy arrays and the numbers of CSV files, by name."""
    out: dict[str, np.ndarray] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if name.endswith(".nii.gz"):
            out[name] = np.asarray(nib.load(str(path)).dataobj, dtype=np.float64)
        elif path.suffix == ".npy":
            out[name] = np.load(path).astype(np.float64)
        elif path.suffix == ".csv":
            with open(path) as f:
                out[name] = np.array([float(cell) for row in csv.reader(f) for cell in row[1:]])
    return out


def train_tiny(bundle: str, tmp: Path) -> tuple[dict, list[str]]:
    """``bundle`` trained for one epoch at its tests' tiny size on the CPU under ``tmp``: inference.json's arguments
    for its checkpoint and a held-out input, and the FutureWarnings training raised."""
    run = tmp / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_bundle(bundle, "training", **{**TINY_SETUPS[bundle](tmp / "data"), "epochs": 1, "output_dir": str(run),
                                          "device": "cpu"})
    (record,) = run.rglob("config/config.json")
    ckpt = next(run.rglob(END_TO_END[bundle][0]))
    args = _inference_args(bundle, ckpt, json.loads(record.read_text())["settings"], tmp)
    return args, [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]


def numbers_within(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], share: float = 0.05
                   ) -> dict[str, float]:
    """Each output's max abs difference from the reference's, asserted within ``share`` of the reference's range."""
    assert reference and set(outputs) == set(reference)
    differences = {name: float(np.abs(outputs[name] - values).max()) for name, values in reference.items()}
    for name, values in reference.items():
        assert differences[name] <= share * max(float(np.ptp(values)), 1e-3), (name, differences[name])
    return differences


@pytest.fixture(scope="module", params=BUNDLES)
def trained(request, tmp_path_factory) -> tuple[str, Path, dict, list[str]]:
    """A bundle trained for one tiny epoch: (bundle, folder, inference arguments, FutureWarnings of training)."""
    bundle, tmp = request.param, tmp_path_factory.mktemp(request.param)
    return bundle, tmp, *train_tiny(bundle, tmp)


def test_no_library_future_warning_reaches_the_user(trained):
    bundle, tmp, args, training = trained
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_bundle(bundle, "inference", **args, output_dir=str(tmp / "default"))
    inference = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert (training, inference) == ([], []), bundle


def test_inference_computes_in_the_precision_asked_for(trained, monkeypatch):
    bundle, tmp_path, args, _ = trained
    converted: list[str] = []
    to_channels_last = amp_module.network_to_channels_last
    monkeypatch.setattr(amp_module, "network_to_channels_last",
                        lambda network, dims: converted.append(type(network).__name__) or to_channels_last(network, dims))
    outputs, made_channels_last = {}, {}
    for amp in (False, True):
        converted.clear()
        run_bundle(bundle, "inference", **args, amp=amp, channels_last=amp, output_dir=str(tmp_path / f"amp_{amp}"))
        outputs[amp], made_channels_last[amp] = _numbers(tmp_path / f"amp_{amp}"), list(converted)
    assert not made_channels_last[False] and made_channels_last[True], made_channels_last
    differences = numbers_within(outputs[True], outputs[False])
    print(f"{bundle}: bf16 vs fp32 outputs, max abs difference {differences}")
    assert any(differences.values()), f"{bundle}: --amp true wrote the same numbers as --amp false"
