"""Synthesis of the missing IXI sequences (T1, T2, PD) of one subject with a trained MM-GAN generator.

Ours because MONAI's inferers take one prepared tensor: this one applies Phase 1 to raw NIfTI volumes (registration
onto the reference sequence, optional N4, per-sequence normalisation), derives the scenario from the sequences given,
cuts the slices with Phase 1's own function (:func:`~monai_pipelines.data.ixi.cut_slices`: RAS, axis, rotation, padding,
size), imputes the missing channels as training did, runs the generator on batches of slices, puts the output back
(:func:`~monai_pipelines.data.ixi.uncut_slices`) and returns the missing sequences on the reference input's grid.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage

from monai_pipelines.data.ixi import (
    IXI_SEQUENCES,
    PERCENTILE,
    SLICE_AXIS,
    SLICE_ROTATION,
    cut_slices,
    from_ras,
    normalise_percentile,
    register_subject,
    to_ras,
    uncut_slices,
)
from monai_pipelines.engines.amp import autocast
from monai_pipelines.transforms.scenario_mask import apply_scenario
from monai_pipelines.utils.atomic_write import atomic_path
from monai_pipelines.utils.errors import InputError

__all__ = ["MissingSequenceInferer"]

logger = logging.getLogger("monai_pipelines")

_REFERENCE_ORDER = ("T2", "PD", "T1")  # Phase 1's grid is T2's (PD shares it); T1 only when it is alone
_SUFFIX = re.compile(r"([-_](T1|T2|PD))?\.nii(\.gz)?$", re.IGNORECASE)


class MissingSequenceInferer:
    """Missing sequences of one subject from the given ones: ``inferer({"T1": path, "T2": path})`` -> PD.

    Args:
        network: MM-GAN generator (3 channels in and out, order T1, T2, PD).
        spatial_size: slice size the network was trained on (Phase 1 ``--size``).
        slice_axis, slice_rotation: Phase 1's slicing of the RAS volume (see :func:`~monai_pipelines.data.ixi.cut_slices`).
        register: register the inputs onto the reference (T2, else PD, else T1) as Phase 1 does; False requires
            co-registered inputs on one grid.
        n4: N4 bias field correction as Phase 1 ``--n4`` (use it for a model trained on N4-corrected slices).
        percentile: Phase 1's normalisation percentile inside the mask.
        impute: imputation of the missing channels, as in training ("zeros" or "mean").
        mask_output: set the synthesised sequences to 0 outside the head (brain) mask, as the inputs' background.

    A trained run's contract gives ``spatial_size``, ``slice_axis``, ``slice_rotation``, ``percentile``, ``n4`` and
    ``impute`` (see the bundle's inference.json).
    """

    def __init__(
        self,
        network: torch.nn.Module,
        spatial_size: int = 256,
        sw_batch_size: int = 8,
        device: torch.device | str | None = None,
        register: bool = True,
        n4: bool = False,
        n4_iterations: Sequence[int] = (50, 50, 30),
        registration_kwargs: Mapping[str, Any] | None = None,
        percentile: float = PERCENTILE,
        slice_axis: int = SLICE_AXIS,
        slice_rotation: int = SLICE_ROTATION,
        impute: str = "zeros",
        mask_output: bool = True,
        amp: bool = False,
        amp_dtype: str | torch.dtype | None = None,
        skip_corrupted: bool = False,
    ) -> None:
        self.network = network
        self.skip_corrupted = bool(skip_corrupted)
        self.device = torch.device(device) if device is not None else next(network.parameters()).device
        self.spatial_size, self.sw_batch_size = int(spatial_size), max(1, int(sw_batch_size))
        self.slice_axis, self.slice_rotation, self.impute = int(slice_axis), int(slice_rotation), impute
        self.register, self.n4, self.n4_iterations = register, n4, tuple(n4_iterations)
        self.registration_kwargs = dict(registration_kwargs or {})
        self.percentile, self.mask_output = percentile, mask_output
        self.amp, self.amp_dtype = amp, amp_dtype

    @staticmethod
    def scenario(files: Mapping[str, Any]) -> str:
        """Scenario code (T1, T2, PD; 1 = given) of the non-empty entries of ``files``."""
        unknown = set(files) - set(IXI_SEQUENCES)
        if unknown:
            raise InputError(f"unknown sequence(s) {sorted(unknown)}; expected a subset of {list(IXI_SEQUENCES)}.")
        code = "".join("1" if files.get(seq) else "0" for seq in IXI_SEQUENCES)
        if code == "000":
            raise InputError("no input sequence given; pass at least one of T1, T2, PD.")
        if code == "111":
            raise InputError("all of T1, T2 and PD are given; there is no missing sequence to synthesise.")
        return code

    def __call__(self, files: Mapping[str, str | os.PathLike | None]) -> dict[str, Any]:
        """Synthesise the missing sequences.

        Returns:
            dict with ``scenario``, ``reference`` (sequence whose grid is used), ``affine``, ``inputs`` and
            ``synthesised`` ({sequence: float32 volume in Phase 1's normalised [0, 1] units, reference shape}),
            ``mask`` and ``files``.
        """
        files = self._usable(files)
        code = self.scenario(files)
        given = {seq: Path(files[seq]) for seq in IXI_SEQUENCES if files.get(seq)}
        reference = next(seq for seq in _REFERENCE_ORDER if seq in given)
        images, affine, mask = register_subject(
            given, reference=reference, n4=self.n4, n4_iterations=self.n4_iterations,
            registration_kwargs=self.registration_kwargs, register=self.register, device=self.device,
        )
        inputs = {seq: normalise_percentile(images[seq], mask, self.percentile) for seq in given}
        shape = inputs[reference].shape
        stacked = np.stack([inputs.get(seq, np.zeros(shape, np.float32)) for seq in IXI_SEQUENCES])
        keep = ndimage.binary_dilation(mask, iterations=1) if self.mask_output else None
        output = self._synthesise(stacked, affine, code, keep)
        if keep is not None:
            output = output * keep[None]
        missing = [i for i, c in enumerate(code) if c == "0"]
        synthesised = {IXI_SEQUENCES[i]: output[i].astype(np.float32) for i in missing}
        return {"scenario": code, "reference": reference, "affine": affine, "inputs": inputs,
                "synthesised": synthesised, "mask": mask, "files": given}

    def _usable(self, files: Mapping[str, Any]) -> dict[str, Any]:
        """``files`` with every given sequence read and checked first: an unusable one ends the call in one line,
        or with ``skip_corrupted`` is dropped (logged) and synthesised from the others like a missing one."""
        from monai_pipelines.transforms.robust_load import CorruptedImageError, RobustLoadImage

        loader, usable = RobustLoadImage(3, True, True, None, False, True, 1), dict(files)
        for seq, path in files.items():
            if not path:
                continue
            try:
                loader.load(path)
            except (FileNotFoundError, CorruptedImageError) as err:
                if not self.skip_corrupted:
                    raise InputError(f"{seq} input {err}") from err
                logger.warning("skipping the %s input, synthesised from the others instead: %s", seq, err)
                usable[seq] = None
        return usable

    def _synthesise(self, volume: np.ndarray, affine: np.ndarray, scenario: str,
                    keep: np.ndarray | None = None) -> np.ndarray:
        """Generator output (C, X, Y, Z) for a (C, X, Y, Z) volume, slice by slice as Phase 1 cut the training data.

        With ``keep`` (the output mask, X, Y, Z), slices it leaves empty are not computed: they are zero either way.
        """
        ras = np.stack([to_ras(v, affine) for v in volume])
        n = ras.shape[1 + self.slice_axis]
        if keep is None:
            needed = list(range(n))
        else:
            area = np.moveaxis(to_ras(keep.astype(np.float32), affine), self.slice_axis, -1).reshape(-1, n).sum(0)
            needed = [int(z) for z in np.flatnonzero(area)]
        slices = torch.as_tensor(cut_slices(ras, self.spatial_size, self.slice_axis, self.slice_rotation, needed))
        slices = apply_scenario(slices, scenario, self.impute)
        self.network.eval()
        generated = torch.zeros(n, *slices.shape[1:])
        with torch.no_grad(), autocast(self.device, self.amp, self.amp_dtype):
            for index, batch in zip(torch.split(torch.as_tensor(needed, dtype=torch.long), self.sw_batch_size),
                                    torch.split(slices, self.sw_batch_size)):
                generated[index] = self.network(batch.to(self.device)).float().clamp(0, 1).cpu()
        out = uncut_slices(generated, ras.shape[1:], self.slice_axis, self.slice_rotation).numpy()
        return np.stack([from_ras(v, affine) for v in out]).astype(np.float32)

    @staticmethod
    def subject_name(result: Mapping[str, Any]) -> str:
        """Subject id from the reference input's file name (``IXI002-Guys-0828-T2.nii.gz`` -> ``IXI002-Guys-0828``)."""
        return _SUFFIX.sub("", Path(result["files"][result["reference"]]).name) or "subject"

    def save(self, result: Mapping[str, Any], output_dir: str | os.PathLike, subject: str | None = None,
             png: bool = True) -> list[Path]:
        """Write each synthesised sequence as ``{subject}-{SEQ}_synth.nii.gz`` (reference affine) and a PNG panel."""
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        subject = subject or self.subject_name(result)
        written = []
        for seq, volume in result["synthesised"].items():
            path = out / f"{subject}-{seq}_synth.nii.gz"
            img = nib.Nifti1Image(volume.astype(np.float32), result["affine"])
            img.header.set_xyzt_units("mm")
            with atomic_path(path) as tmp:  # nibabel picks the format from the name, so gzip the bytes here
                tmp.write_bytes(gzip.compress(img.to_bytes(), compresslevel=1))
            written.append(path)
        if png:
            written.append(self._panel(result, out / f"{subject}_synthesis.png"))
        return written

    @staticmethod
    def _panel(result: Mapping[str, Any], path: Path) -> Path:
        """The axial slice with the most foreground: each sequence, marked input or synthesised."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        affine = result["affine"]
        mask = to_ras(result["mask"].astype(np.float32), affine)
        z = int(np.argmax(mask.sum((0, 1))))
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
        for ax, seq in zip(axes, IXI_SEQUENCES):
            volume = result["inputs"].get(seq, result["synthesised"].get(seq))
            sl = to_ras(volume, affine)[:, :, z]
            ax.imshow(np.rot90(sl), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{seq} ({'input' if seq in result['inputs'] else 'synthesised'})", fontsize=9)
            ax.axis("off")
        fig.suptitle(f"scenario {result['scenario']}, axial slice {z}", fontsize=10)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80, format="png")
        plt.close(fig)
        return path
