"""Sampler of (tile, patch centre) draws whose patches contain the classes in target pixel proportions.

MONAI's ``RandCropByLabelClasses`` balances only the class of the patch *centre*, per image; the pixels of a patch
around an ice centre are partly debris or background, so the patch contents drift from the ratios. Here every
candidate centre (a class-stratified subset of all pixels) carries the exact class counts of its patch (summed-area
tables), and the draw probabilities are the maximum-entropy tilt ``p_i ~ q_i exp(lambda . g_i)`` of a class-balanced
base ``q`` whose expected patch contents match the targets (``g_i`` = counts minus target share of the patch). A
small ridge on ``lambda`` keeps it finite where the data cannot reach the targets; the smallest ridge that keeps
at least ``min_effective_fraction`` of the candidates effectively in use is chosen, so the draws never collapse
onto a handful of patches. What sampling cannot reach, per-class loss weights (``loss_weights``, pixel weight =
target / sampled share) make up: the weighted class proportions seen by a pixel-wise loss equal the targets.
:meth:`PixelBalancedSampler.report` gives targets, expected, sampled and weighted proportions side by side.

Draws are a pure function of ``(seed, epoch)``; the epoch advances by one per iteration (or is set with
``set_epoch``) and is saved in ``state_dict``, so a resumed run draws exactly what the uninterrupted one would.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from torch.utils.data import Sampler

__all__ = ["PixelBalancedSampler", "crop_window", "patch_class_counts", "GLACIER_TARGETS", "save_sampler_report"]

logger = logging.getLogger(__name__)

# background, clean ice, debris, lake
GLACIER_TARGETS = (0.10, 0.35, 0.40, 0.15)
# ridge strengths tried, strongest (most diverse) first
_RIDGES = tuple(10.0 ** e for e in np.arange(1.0, -6.5, -0.5))


def crop_window(shape: Sequence[int], centre: Sequence[int], patch_size: Sequence[int]) -> tuple[slice, ...]:
    """Slices of a patch around ``centre``, shifted to lie inside ``shape`` (whole axis when the patch is larger)."""
    out = []
    for n, c, p in zip(shape, centre, patch_size):
        start = int(np.clip(int(c) - p // 2, 0, max(n - p, 0)))
        out.append(slice(start, start + min(p, n)))
    return tuple(out)


def patch_class_counts(
    label: np.ndarray,
    num_classes: int,
    patch_size: Sequence[int] | None,
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
) -> np.ndarray:
    """Class pixel counts of the patch (``crop_window`` placement) centred at every pixel, (K, H, W), or at the
    centres ``(rows, cols)``, (K, n); summed-area tables, so the cost does not grow with the patch size."""
    if rows is None or cols is None:
        rows, cols = (a.ravel() for a in np.indices(label.shape))
        return patch_class_counts(label, num_classes, patch_size, rows, cols).reshape(num_classes, *label.shape)
    classes = np.arange(num_classes)[:, None]
    if patch_size is None:
        return (label[rows, cols][None] == classes).astype(np.int32)
    h, w = label.shape
    sat = np.zeros((num_classes, h + 1, w + 1), dtype=np.int32)
    sat[:, 1:, 1:] = (label[None] == classes[..., None]).cumsum(1, dtype=np.int32).cumsum(2, dtype=np.int32)
    ph, pw = min(patch_size[0], h), min(patch_size[1], w)
    r0 = np.clip(rows - patch_size[0] // 2, 0, h - ph)
    c0 = np.clip(cols - patch_size[1] // 2, 0, w - pw)
    r1, c1 = r0 + ph, c0 + pw
    return sat[:, r1, c1] - sat[:, r0, c1] - sat[:, r1, c0] + sat[:, r0, c0]


class PixelBalancedSampler(Sampler):
    """Yields ``(tile_index, row, col)`` patch centres, ``num_samples`` per epoch.

    Args:
        labels: one integer class map (H, W) (or (1, H, W)) per tile.
        targets: target pixel proportion per class (sequence indexed by class, or mapping class -> proportion).
        patch_size: patch side(s) in pixels; None balances the centre pixels only.
        num_samples: draws per epoch.
        seed: draws of epoch ``e`` depend on ``(seed, e)`` only.
        max_pixels_per_class_per_tile: candidate centres kept per class and tile (random subset), bounding memory.
        pilot_patches: unused (patch contents are now counted exactly); kept so older configs still load.
        min_effective_fraction: the sampling distribution's effective number of candidates (1 / sum p^2) is kept
            at or above this fraction of all candidates, trading closeness to the targets for patch diversity.
        tolerance: largest acceptable |expected - target| per class; beyond it a warning says the data do not
            allow the targets at this patch size.
        max_candidates: overall budget of candidate centres; lowers the per-tile cap on large datasets.
    """

    def __init__(
        self,
        labels: Sequence[np.ndarray],
        targets: Sequence[float] | Mapping[int, float] = GLACIER_TARGETS,
        patch_size: int | Sequence[int] | None = 64,
        num_samples: int = 1000,
        seed: int = 0,
        max_pixels_per_class_per_tile: int | None = 4096,
        pilot_patches: int | None = None,
        min_effective_fraction: float = 0.01,
        tolerance: float = 0.05,
        max_candidates: int = 1_000_000,
    ) -> None:
        if not len(labels):
            raise ValueError("PixelBalancedSampler needs at least one label map.")
        self.labels = [np.asarray(lab).reshape(np.asarray(lab).shape[-2:]).astype(np.int16) for lab in labels]
        if isinstance(targets, Mapping):
            size = max(int(k) for k in targets) + 1
            targets = [float(targets.get(k, 0.0)) for k in range(size)]
        self.targets = np.asarray(targets, dtype=float)
        if (self.targets < 0).any() or self.targets.sum() <= 0:
            raise ValueError(f"targets must be non-negative and not all zero, got {list(self.targets)}.")
        self.targets = self.targets / self.targets.sum()
        self.num_classes = len(self.targets)
        self.patch_size = None if patch_size is None else tuple(np.broadcast_to(patch_size, (2,)).tolist())
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0
        self.tolerance = float(tolerance)
        self.min_effective_fraction = float(min_effective_fraction)

        cap = max(64, int(max_candidates) // (len(self.labels) * self.num_classes))
        if max_pixels_per_class_per_tile is not None:
            cap = min(cap, int(max_pixels_per_class_per_tile))
        self.centres, self.counts, centre_class = self._collect(cap)
        present = np.bincount(centre_class, minlength=self.num_classes)[: self.num_classes] > 0
        if not present.any():
            raise ValueError(f"no label map contains any of the classes 0..{self.num_classes - 1}.")
        self.absent_classes = np.flatnonzero(~present & (self.targets > 0)).tolist()
        self.wanted = np.where(present, self.targets, 0.0)
        if self.absent_classes:
            logger.warning(f"classes {self.absent_classes} are absent from the labels; their target share is spread "
                           "over the others.")
        self.wanted /= self.wanted.sum()
        self.probabilities, self.ridge = self._solve(centre_class, present)
        sizes = self.counts.sum(1)
        self.expected_proportions = (self.probabilities @ self.counts) / (self.probabilities @ sizes)
        self.effective_candidates = float(1.0 / np.sum(self.probabilities**2))
        # probability of each centre class (the old sampler's ``class_weights``)
        self.class_weights = np.bincount(centre_class, self.probabilities, minlength=self.num_classes)
        self.loss_weights = self._loss_weights()
        self._drawn = np.zeros(self.num_classes)
        self._draws = 0
        self._counted_epoch = -1  # the draws of an epoch are counted once, also when a resumed run redraws it
        self._log()

    def _collect(self, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, 3) candidate centres (tile, row, col), their (n, K) patch class counts and their centre classes."""
        rng = np.random.default_rng(12345)
        centres, counts, classes = [], [], []
        for t, lab in enumerate(self.labels):
            picks = []
            for k in range(self.num_classes):
                where = np.flatnonzero(lab == k)
                if len(where) > cap:
                    where = np.sort(rng.choice(where, cap, replace=False))
                picks.append(where)
                classes.append(np.full(len(where), k, dtype=np.int16))
            rows, cols = np.divmod(np.concatenate(picks), lab.shape[1])
            centres.append(np.stack([np.full_like(rows, t), rows, cols], 1).astype(np.int32))
            counts.append(patch_class_counts(lab, self.num_classes, self.patch_size, rows, cols).T.astype(np.float32))
        return np.concatenate(centres), np.concatenate(counts), np.concatenate(classes)

    def _solve(self, centre_class: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, float]:
        """Tilted draw probabilities (smallest ridge that keeps enough candidates in use) and that ridge."""
        per_class = np.bincount(centre_class, minlength=self.num_classes)[: self.num_classes]
        log_base = -np.log(per_class[centre_class] * present.sum())  # equal mass per centre class
        # candidates with equal patch contents get equal tilts: solve over the distinct contents
        contents, group = np.unique(self.counts, axis=0, return_inverse=True)
        group = group.ravel()
        base = np.bincount(group, np.exp(log_base), minlength=len(contents))
        sizes = contents.sum(1, dtype=np.float64)
        g = (contents - self.wanted[None] * sizes[:, None]) / sizes.mean()
        floor = self.min_effective_fraction * len(self.counts)
        lam, best = np.zeros(self.num_classes), (base, float("inf"))
        for ridge in _RIDGES:
            def objective(x: np.ndarray, ridge: float = ridge) -> tuple[float, np.ndarray]:
                a = g @ x
                lse = logsumexp(a, b=base)
                return lse + 0.5 * ridge * x @ x, (base * np.exp(a - lse)) @ g + ridge * x

            lam = minimize(objective, lam, jac=True, method="L-BFGS-B").x
            tilt = np.exp(g @ lam - logsumexp(g @ lam, b=base))  # per distinct content, per unit base mass
            p_group = base * tilt
            if 1.0 / np.sum(np.exp(2 * log_base) * tilt[group] ** 2) < floor:
                break
            best = (p_group, ridge)
            if np.abs(p_group @ g).max() < 1e-7:
                break
        p_group, ridge = best
        p = np.exp(log_base) * (p_group / base)[group]
        return p / p.sum(), ridge

    def _loss_weights(self) -> np.ndarray:
        """Per-class pixel weights making the weighted expected proportions equal the (attainable) targets."""
        e = self.expected_proportions
        return np.where(e > 0, self.wanted / np.maximum(e, 1e-12), 1.0)

    def _log(self) -> None:
        size = "centre pixels" if self.patch_size is None else f"{self.patch_size[0]}x{self.patch_size[1]} patches"
        error = float(np.abs(self.expected_proportions - self.wanted).max())
        line = (f"pixel-balanced sampler ({size}, {len(self.counts)} candidate centres, "
                f"{self.effective_candidates:.0f} effectively used): expected class proportions "
                f"{_pct(self.expected_proportions)} against targets {_pct(self.wanted)}")
        if error > self.tolerance:
            logger.warning(f"{line}: {100 * error:.1f} points off. The patches of these data cannot get closer at "
                           f"this patch size while drawing from at least {100 * self.min_effective_fraction:g} % of "
                           f"the candidates; per-class loss weights {np.round(self.loss_weights, 3).tolist()} make "
                           "the weighted proportions match (loss_weights, report()).")
        else:
            logger.info(line + ".")

    def composition(self, tile: int, row: int, col: int) -> np.ndarray:
        """Class pixel fractions of the patch centred at (row, col) of ``tile``."""
        lab = self.labels[tile]
        patch = lab[crop_window(lab.shape, (row, col), self.patch_size)] if self.patch_size else lab[row, col]
        counts = np.bincount(np.ravel(patch), minlength=self.num_classes)[: self.num_classes]
        return counts / max(counts.sum(), 1)

    def draw_indices(self, epoch: int) -> np.ndarray:
        """Candidate indices drawn in ``epoch`` (a pure function of seed and epoch)."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        return rng.choice(len(self.probabilities), size=self.num_samples, p=self.probabilities)

    def draw(self, n: int | None = None, epoch: int | None = None) -> np.ndarray:
        """An epoch's draws as an (n, 3) array of (tile, row, col); ``n`` defaults to ``num_samples``."""
        idx = self.draw_indices(self.epoch if epoch is None else epoch)
        if n is not None and n != self.num_samples:
            rng = np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), int(n)])
            idx = rng.choice(len(self.probabilities), size=int(n), p=self.probabilities)
        return self.centres[idx].astype(np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Draw the next iteration as epoch ``epoch`` (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        idx = self.draw_indices(self.epoch)
        if self.epoch > self._counted_epoch:
            self._drawn += self.counts[idx].sum(0, dtype=np.float64)
            self._draws += len(idx)
            self._counted_epoch = self.epoch
        self.epoch += 1
        return iter([(int(t), int(r), int(c)) for t, r, c in self.centres[idx]])

    def __len__(self) -> int:
        return self.num_samples

    def report(self) -> dict:
        """Targets, expected / sampled / loss-weighted class proportions, loss weights (JSON-serialisable)."""
        sampled = self._drawn / self._drawn.sum() if self._drawn.sum() else None
        weighted = self.expected_proportions * self.loss_weights
        reached = sampled if sampled is not None else self.expected_proportions
        error = float(np.abs(reached - self.wanted).max())
        return {
            "patch_size": None if self.patch_size is None else list(self.patch_size),
            "targets": _dict(self.targets),
            "attainable_targets": _dict(self.wanted),
            "absent_classes": self.absent_classes,
            "expected": _dict(self.expected_proportions),
            "sampled": None if sampled is None else _dict(sampled),
            "draws": self._draws,
            "max_abs_error": round(error, 6),
            "within_tolerance": error <= self.tolerance,
            "tolerance": self.tolerance,
            "loss_weights": _dict(self.loss_weights),
            "weighted": _dict(weighted / weighted.sum()),
            "candidates": len(self.counts),
            "effective_candidates": round(self.effective_candidates, 1),
            "ridge": float(self.ridge),
        }

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "drawn": self._drawn.tolist(), "draws": self._draws,
                "counted_epoch": self._counted_epoch}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" not in state:  # a checkpoint of the older, RNG-state sampler
            warnings.warn("sampler state without an epoch (older format): draws restart from epoch 0.", stacklevel=2)
            return
        # the seed stays this sampler's own: under DDP each rank has its own, and rank 0's state is loaded on all
        self.epoch = int(state["epoch"])
        self._drawn = np.asarray(state.get("drawn", np.zeros(self.num_classes)), dtype=float)
        self._draws = int(state.get("draws", 0))
        self._counted_epoch = int(state.get("counted_epoch", self.epoch - 1))


def _dict(values: np.ndarray) -> dict[str, float]:
    return {str(k): round(float(v), 6) for k, v in enumerate(values)}


def _pct(values: np.ndarray) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values) + " %"


def save_sampler_report(sampler: PixelBalancedSampler, path: str | os.PathLike) -> Path:
    """Write ``sampler.report()`` as JSON to ``path`` atomically (rank 0 under DDP); returns the path."""
    from monai_pipelines.utils.atomic_write import write_json_atomic
    from monai_pipelines.utils.dist import is_main_process

    if is_main_process():
        write_json_atomic(path, sampler.report())
    return Path(path)
