"""Every random number generator a training run draws from, as a checkpointable state.

Python's, NumPy's and torch's global generators (CPU and every CUDA device), plus, optionally, the private
``RandomState`` of MONAI randomizable transforms (used when a DataLoader runs them in the main process). States are
stored as tensors and plain numbers so that ``torch.load(weights_only=True)`` can read them back.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch
from monai.transforms import Randomizable

__all__ = ["RNGState"]


def _numpy_state(rs: np.random.RandomState | None = None) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = rs.get_state() if rs is not None else np.random.get_state()
    return {
        "name": str(name),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_state(state: dict[str, Any], rs: np.random.RandomState | None = None) -> None:
    keys = np.asarray(state["keys"].cpu().numpy(), dtype=np.uint32)
    value = (state["name"], keys, int(state["pos"]), int(state["has_gauss"]), float(state["cached_gaussian"]))
    (rs.set_state if rs is not None else np.random.set_state)(value)


def collect_randomizables(obj: Any, found: list | None = None) -> list[Randomizable]:
    """MONAI randomizable transforms inside ``obj`` (a transform, a Compose, a dataset), depth first, each once."""
    found = [] if found is None else found
    if obj is None or any(obj is f for f in found):
        return found
    if isinstance(obj, (list, tuple)):
        for item in obj:
            collect_randomizables(item, found)
        return found
    if isinstance(obj, Randomizable) and isinstance(getattr(obj, "R", None), np.random.RandomState):
        found.append(obj)
    children = [getattr(obj, "transforms", None), getattr(obj, "transform", None)]
    if isinstance(obj, Randomizable):  # dictionary transforms keep their array transform as an attribute
        children += [v for v in vars(obj).values() if isinstance(v, Randomizable)]
    for child in children:
        if child is not None and child is not obj:
            collect_randomizables(child, found)
    return found


class RNGState:
    """Captures and restores all RNG states so a resumed run draws the same numbers as an uninterrupted one.

    Args:
        transforms: transforms (or datasets, or a list of them) whose MONAI randomizable members' private
            generators are saved too; needed when augmentation runs in the main process (``num_workers=0``).
    """

    def __init__(self, transforms: Any = None) -> None:
        self.transforms = transforms

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = random.getstate()
        state: dict[str, Any] = {
            "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
            "numpy": _numpy_state(),
            "torch": torch.get_rng_state(),
            "cuda": [s.cpu() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
            "transforms": [_numpy_state(t.R) for t in collect_randomizables(self.transforms)],
        }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        py = state["python"]
        random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
        _set_numpy_state(state["numpy"])
        torch.set_rng_state(state["torch"].cpu())
        cuda_states = state.get("cuda") or []
        if cuda_states and torch.cuda.is_available():
            for device, s in enumerate(cuda_states[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(s.cpu(), device)
        randomizables = collect_randomizables(self.transforms)
        saved = state.get("transforms") or []
        if len(saved) != len(randomizables):
            if saved or randomizables:
                logging.getLogger(__name__).warning(
                    "transform RNG states not restored: %d saved vs %d randomizable transforms now",
                    len(saved),
                    len(randomizables),
                )
            return
        for t, s in zip(randomizables, saved):
            _set_numpy_state(s, t.R)
