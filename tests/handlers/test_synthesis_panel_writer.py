"""SynthesisPanelWriter / plot_synthesis_panel: PNGs per subject, max_panels, names, label on another grid."""

from __future__ import annotations

import logging

import numpy as np
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from PIL import Image

from monai_pipelines.handlers.synthesis_panel_writer import SynthesisPanelWriter, plot_synthesis_panel

COLUMN_PX = 3 * 80  # figsize 3 inches per column at dpi 80


def _item(name, shape=(12, 10, 8), label_shape=None, seed=0):
    rng = np.random.default_rng(seed)
    label = torch.as_tensor(rng.uniform(-1000, 1500, size=(1, *(label_shape or shape))), dtype=torch.float32)
    image = torch.as_tensor(rng.random((1, *shape)), dtype=torch.float32)
    pred = torch.as_tensor(rng.uniform(-1000, 1500, size=(1, *shape)), dtype=torch.float32)
    item = {"image": image, "label": label}
    if name:
        item["subject"] = name
    return item, pred


def _run(writer, batches, epochs=1):
    def step(engine, data):
        batch, preds = data
        engine.state.batch = batch  # as MONAI's evaluator leaves it
        if isinstance(batch, list):
            return [{"pred": p, "label": item["label"]} for item, p in zip(batch, preds)]
        return {"pred": torch.stack(preds), "label": batch["label"]}

    engine = Engine(step)
    writer.attach(engine)
    engine.run(batches, max_epochs=epochs)
    return engine


def _width(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size[0]


def test_plot_panel_with_and_without_target(tmp_path):
    item, pred = _item("a")
    full = plot_synthesis_panel(tmp_path / "sub" / "full.png", item["image"], pred, item["label"], title="a")
    two = plot_synthesis_panel(tmp_path / "two.png", item["image"].numpy()[0], pred.numpy()[0])  # no channel dim
    assert full == tmp_path / "sub" / "full.png"
    assert _width(full) == 4 * COLUMN_PX and _width(two) == 2 * COLUMN_PX


def test_decollated_batches_respect_max_panels(tmp_path):
    batches = []
    for b in range(2):
        pairs = [_item(f"s{2 * b + i}", seed=2 * b + i) for i in range(2)]
        batches.append(([p[0] for p in pairs], [p[1] for p in pairs]))
    writer = SynthesisPanelWriter(tmp_path, max_panels=1)
    engine = _run(writer, batches, epochs=2)  # the count restarts each epoch (the same file is rewritten)
    assert engine.state.epoch == 2
    assert [p.name for p in writer.written] == ["s0_panel.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["s0_panel.png"]
    assert _width(writer.written[0]) == 4 * COLUMN_PX
    writer = SynthesisPanelWriter(tmp_path / "three", max_panels=3)
    _run(writer, batches[1:] + batches[:1])  # the limit cuts a batch in the middle
    assert [p.name for p in writer.written] == ["s2_panel.png", "s3_panel.png", "s0_panel.png"]


def test_batched_dict_and_names_from_file_stem(tmp_path):
    (a, pa), (b, pb) = _item(None, seed=1), _item(None, seed=2)
    images = MetaTensor(torch.stack([a["image"], b["image"]]))
    images.meta["filename_or_obj"] = ["/d/mr_a.nii.gz", "/d/mr_b.nii"]
    images.is_batch = True
    batch = {"image": images, "label": torch.stack([a["label"], b["label"]])}
    writer = SynthesisPanelWriter(tmp_path, max_panels=None)
    _run(writer, [(batch, [pa, pb])])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mr_a_panel.png", "mr_b_panel.png"]


def test_label_on_another_grid_gives_panel_without_error_map(tmp_path, caplog):
    item, pred = _item("odd", label_shape=(6, 5, 4))
    writer = SynthesisPanelWriter(tmp_path)
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        _run(writer, [([item], [pred])])
    (path,) = writer.written
    assert _width(path) == 2 * COLUMN_PX
    assert "another grid" in caplog.text


def test_zero_panels_writes_nothing(tmp_path):
    item, pred = _item("x")
    writer = SynthesisPanelWriter(tmp_path / "out", max_panels=0)
    _run(writer, [([item], [pred])])
    assert writer.written == [] and not (tmp_path / "out").exists()


def _anisotropic(shape=(16, 16, 6), spacing=(1.0, 1.0, 2.5)):
    volume = MetaTensor(torch.rand(1, *shape), affine=torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64)))
    return volume


def test_panel_draws_anisotropic_voxels_with_their_aspect(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    aspects = []
    imshow = Axes.imshow
    monkeypatch.setattr(Axes, "imshow", lambda self, *a, **k: aspects.append(k.get("aspect")) or imshow(self, *a, **k))
    image = _anisotropic()
    path = plot_synthesis_panel(tmp_path / "p.png", image, image * 1000, image * 1000)
    # per column: axial (y/x), coronal (z/x), sagittal (z/y)
    assert aspects == [1.0, 2.5, 2.5] * 4
    with Image.open(path) as im:  # rows as tall as the slices are in mm: 16 + 15 + 15 (not 16 + 6 + 6)
        assert im.size[1] == int(3 * (1 + 15 / 16 + 15 / 16) * 80)
    aspects.clear()
    plot_synthesis_panel(tmp_path / "q.png", image.numpy()[0], image.numpy()[0], spacing=(0.5, 1.0, 3.0))
    assert aspects == [2.0, 6.0, 3.0] * 2


def test_writer_takes_spacing_from_the_image_affine(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    aspects = []
    imshow = Axes.imshow
    monkeypatch.setattr(Axes, "imshow", lambda self, *a, **k: aspects.append(k.get("aspect")) or imshow(self, *a, **k))
    image = _anisotropic()
    item = {"image": image, "label": torch.zeros(1, 16, 16, 6), "subject": "pig"}
    _run(SynthesisPanelWriter(tmp_path), [([item], [image * 1000])])
    assert aspects[:3] == [1.0, 2.5, 2.5]
