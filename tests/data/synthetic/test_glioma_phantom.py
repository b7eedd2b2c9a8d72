"""Glioma phantoms: HGG vs LGG appearance on each sequence, determinism, BraTS layout and manifest."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines.data.synthetic.glioma_phantom import flair_signal, generate_glioma, make_glioma_phantom

SHAPE = (40, 40, 40)


@pytest.fixture(scope="module")
def pair():
    return make_glioma_phantom(3, "HGG", SHAPE), make_glioma_phantom(3, "LGG", SHAPE)


def test_flair_nulls_csf():
    csf, wm, oedema = (flair_signal(pd, t1, t2, 9000, 2500, 120) for pd, t1, t2 in
                       ((1.0, 4000, 2000), (0.7, 650, 75), (0.86, 1150, 160)))
    assert csf < 0.3 * wm and oedema > 2 * wm


def test_hgg_and_lgg_appearance(pair):
    hgg, lgg = pair
    for p in pair:
        normal = p.brain_mask & (p.seg == 0)
        lesion = p.seg > 0
        assert p.images["flair"][p.seg == 2].mean() > 1.5 * np.median(p.images["flair"][normal])  # bright oedema
        assert p.images["t2"][lesion].mean() > 1.2 * np.median(p.images["t2"][normal])
        assert (p.images["t1"][~p.brain_mask] == 0).all()  # skull-stripped
    assert (hgg.seg == 4).sum() > 0 and (lgg.seg == 4).sum() == 0  # enhancing ring only in HGG
    ring = hgg.seg == 4
    assert hgg.images["t1ce"][ring].mean() > 1.5 * hgg.images["t1"][ring].mean()
    assert (lgg.images["t1ce"][lgg.seg > 0].mean() / lgg.images["t1"][lgg.seg > 0].mean()) < 1.1
    assert hgg.images["t1"][hgg.seg == 1].mean() < 0.85 * hgg.images["t1"][ring].mean()  # necrosis dark on T1
    assert (hgg.seg > 0).sum() > (lgg.seg > 0).sum()  # larger
    cv = [p.images["flair"][p.seg > 0].std() / p.images["flair"][p.seg > 0].mean() for p in pair]
    assert cv[0] > cv[1]  # heterogeneous vs homogeneous


def test_deterministic_and_errors(pair):
    again = make_glioma_phantom(3, "HGG", SHAPE)
    assert np.array_equal(again.images["flair"], pair[0].images["flair"]) and np.array_equal(again.seg, pair[0].seg)
    with pytest.raises(ValueError, match="grade"):
        make_glioma_phantom(0, "GBM", SHAPE)


def test_generate_brats_layout(tmp_path):
    manifest_path = generate_glioma(tmp_path, n_subjects=8, shape=(24, 24, 24), folds=2)
    manifest = json.loads(manifest_path.read_text())
    items = manifest["training"] + manifest["validation"]
    assert len(items) == 8 and sum(i["label"] for i in items) == 6  # 3:1
    item = items[0]
    image = nib.load(tmp_path / item["flair"])
    assert image.shape == (24, 24, 24) and image.get_data_dtype() == np.int16
    assert item["flair"].startswith(f"{item['grade']}/{item['subject']}/")
    assert {"flair", "t1", "t1ce", "t2", "seg"} <= set(item)
