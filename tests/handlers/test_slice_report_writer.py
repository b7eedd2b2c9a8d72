"""SliceReportWriter: every slice on the page, a baseline column, error maps with HU colour bars, a fitted window."""

from __future__ import annotations

import csv
import re

import numpy as np

from monai_pipelines.handlers.slice_report_writer import SliceReportWriter, display_window, slice_figure


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
    sources = re.findall(r"<img src='(images/[^']+)'", page)
    assert len(sources) == 8 and all((tmp_path / s).is_file() for s in sources)
    assert "baseline: MAE 80.0 HU" in page and "network: MAE 10.0 HU" in page
    rows = list(csv.DictReader((tmp_path / "test_slice_metrics.csv").open()))
    assert len(rows) == 8
    assert abs(float(rows[0]["baseline_mae"]) - 80.0) < 1e-3 and abs(float(rows[0]["mae"]) - 10.0) < 1e-3


def test_slice_figure_has_hu_colour_bars_and_error_maps():
    image, pred, target = (v[..., 0] for v in _volumes(1))
    fig = slice_figure(image, pred, target, (-1000.0, 1500.0), 100.0)
    titles = [ax.get_title() for ax in fig.axes]
    assert {"input (baseline)", "generated", "target", "|generated - target|", "|input - target| (baseline)"} <= set(
        titles)
    assert {ax.get_ylabel() for ax in fig.axes} >= {"HU", "|error| (HU)"}  # the two colour bars


def test_window_fits_values_outside_a_ct_window():
    pred = np.full((4, 4), 2500.0)  # a fixed [-1000, 600] window would saturate this to white
    lo, hi = display_window(np.full((4, 4), -900.0), pred)
    assert lo <= -900 and hi >= 2400
    assert display_window(np.zeros((3, 3))) == (-1.0, 1.0)
