"""Turn an inference input (one image file or a folder of them) into a datalist."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd", ".tif", ".tiff")


def image_datalist(
    input_path: str | os.PathLike, key: str = "image", label_path: str | os.PathLike | None = None, pattern: str = "*"
) -> list[dict]:
    """``[{key: file}]`` for a file, or one item per image file (sorted) in a folder whose name matches ``pattern``
    (fnmatch, e.g. ``*_fla.nii.gz``).

    ``label_path`` (a file, or a folder holding files of the same names) adds a ``label`` to each item
    when it exists, e.g. the true CT for an error map; a missing ``label_path`` or one label file for several
    images is an error.
    """
    path = Path(input_path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)
                       and fnmatch.fnmatch(p.name, pattern))
        if not files:
            raise FileNotFoundError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) matching {pattern!r} in "
                                    "this folder.")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"{path}: no such file or folder.")
    items = [{key: str(f)} for f in files]
    if label_path is not None:
        label = Path(label_path)
        if not label.exists():
            raise FileNotFoundError(f"{label}: label_path is neither a file nor a folder.")
        if label.is_file() and len(files) > 1:
            raise ValueError(f"{label}: label_path is one file but {path} holds {len(files)} images; give a folder.")
        for item, f in zip(items, files):
            candidate = label / f.name if label.is_dir() else label
            if candidate.is_file():
                item["label"] = str(candidate)
    return items
