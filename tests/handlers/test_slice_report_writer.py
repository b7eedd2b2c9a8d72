"""SliceReportWriter: every slice on the page, a baseline column, error maps with HU colour bars, a fitted window."""

from __future__ import annotations

import csv
import re

import numpy as np

from monai_pipelines.handlers.slice_report_writer import (
    PANEL_PX,
    SliceReportWriter,
    colour_key_figure,
    display_window,
    slice_strip,
)


def _volumes(n_slices: int = 8):
    rng = np.random.default_rng(0)
    target = rng.uniform(-1000, 1500, (12, 10, n_slices)).astype(np.float32)
    image = target + 80.0  # the input, as a baseline prediction, is off by 80 HU
    pred = target + 10.0
    return image, pred, target


def test_page_shows_every_slice_with_baseline_metrics(tmp_path):
    writer = SliceReportWriter(tmp_path, name="test")
    writer.add("case", *_volumes(8))
    page = writer._write().read_text()
    sources = re.findall(r"<img src='(images/case_\d+\.png)'", page)
    assert len(sources) == 8 and all((tmp_path / s).is_file() for s in sources)
    assert "baseline: MAE 80.0 HU" in page and "network: MAE 10.0 HU" in page
    rows = list(csv.DictReader((tmp_path / "test_slice_metrics.csv").open()))
    assert len(rows) == 8
    assert abs(float(rows[0]["baseline_mae"]) - 80.0) < 1e-3 and abs(float(rows[0]["mae"]) - 10.0) < 1e-3


def test_strip_has_baseline_and_error_panels_and_the_page_hu_colour_bars(tmp_path):
    image, pred, target = (v[..., 0] for v in _volumes(1))
    titles, strip = slice_strip(image, pred, target, (-1000.0, 1500.0), 100.0)
    assert titles == ["input (baseline)", "generated", "target", "|generated - target|", "|input - target| (baseline)"]
    assert strip.shape[1] == 5 * PANEL_PX + 4 * 4 and strip.dtype == np.uint8
    baseline_error = strip[:, 4 * (PANEL_PX + 4):]
    network_error = strip[:, 3 * (PANEL_PX + 4): 4 * PANEL_PX + 3 * 4]
    assert baseline_error.mean() > network_error.mean()  # 80 HU off vs 10 HU off, on one scale
    writer = SliceReportWriter(tmp_path)
    writer.add("case", *_volumes(2))
    page = writer._write().read_text()
    assert "images/case_scale.png" in page and all(t in page for t in titles)
    fig = colour_key_figure((-1000.0, 1500.0), 100.0)
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels == ["HU (input, generated, target)", "|error| (HU)"]


def test_window_fits_values_outside_a_ct_window():
    pred = np.full((4, 4), 2500.0)  # a fixed [-1000, 600] window would saturate this to white
    lo, hi = display_window(np.full((4, 4), -900.0), pred)
    assert lo <= -900 and hi >= 2400
    assert display_window(np.zeros((3, 3))) == (-1.0, 1.0)
