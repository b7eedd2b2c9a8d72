"""TrainingHistory's figure: one unit per panel, y labels, integer epoch ticks, legends beside the axes."""

from __future__ import annotations

import pytest

from monai_pipelines.handlers.training_history import TrainingHistory

CLASSES = ("background", "clean_ice", "debris", "lake")


def _glacier_row(epoch: int) -> dict:
    row = {"epoch": epoch, "train_loss": 1.0 / epoch, "lr": 1e-3, "val_mcc": 0.1 * epoch, "val_accuracy": 0.5,
           "val_mean_iou": 0.3, "val_mean_f1": 0.4, "epoch_time": 1.0}
    for stat in ("iou", "precision", "recall", "f1"):
        row.update({f"val_{stat}_{c}": 0.1 * (k + 1) for k, c in enumerate(CLASSES)})
    return row


def _mmgan_row(epoch: int) -> dict:
    row = {"epoch": epoch, "train_loss": 0.5, "lr": 2e-4, "val_psnr": 20.0 + epoch, "val_ssim": 0.6}
    row.update({f"val_psnr_{code}": 19.0 for code in ("001", "011", "110")})
    row.update({f"val_ssim_{code}": 0.5 for code in ("001", "011", "110")})
    return row


def _figure(rows, tmp_path):
    history = TrainingHistory(tmp_path)
    history.history = rows
    return history.figure()


def test_units_never_share_an_axis(tmp_path):
    fig = _figure([_mmgan_row(e) for e in (1, 2)], tmp_path)
    titles = {ax.get_title(): ax for ax in fig.axes}
    assert {"loss", "PSNR", "SSIM", "learning rate"} <= set(titles)
    assert titles["PSNR"].get_ylabel() == "PSNR (dB)"
    assert all(line.get_ydata().max() < 1 for line in titles["SSIM"].get_lines())
    assert all(ax.get_ylabel() for ax in fig.axes)


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_short_runs_have_integer_epoch_ticks(tmp_path, epochs):
    fig = _figure([_glacier_row(e) for e in range(1, epochs + 1)], tmp_path)
    for ax in fig.axes:
        assert list(ax.get_xticks()) == list(range(1, epochs + 1))
        assert ax.get_xlabel() == "epoch"


def test_glacier_legends_stay_beside_the_axes(tmp_path):
    fig = _figure([_glacier_row(e) for e in (1, 2)], tmp_path)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(fig.axes) >= 6 and legends  # ~20 metrics split over panels
    for ax in legends:
        box, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 >= axes_box.x1  # right of the plotting area, over no curve
        assert len(ax.get_legend().get_texts()) <= 6
    iou = next(ax for ax in fig.axes if ax.get_title() == "IoU per class")
    assert {t.get_text() for t in iou.get_legend().get_texts()} == {"mean", *CLASSES}


def test_plot_writes_png(tmp_path):
    history = TrainingHistory(tmp_path, plot_name="plots/curves.png")
    history.history = [_glacier_row(1)]
    assert history.plot().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fitted_temperature_has_its_own_panel(tmp_path):
    """glioma's rows: AUC and ECE are scores in [0, 1]; the temperature (up to 1000) must not flatten them."""
    rows = [{"epoch": e, "train_loss": 1.0, "val_loss": 1.0, "val_auc": 0.8, "val_ece": 0.1,
             "val_ece_uncalibrated": 0.3, "val_temperature": 40.0, "lr": 1e-4} for e in (1, 2)]
    titles = {ax.get_title(): ax for ax in _figure(rows, tmp_path).axes}
    assert titles["temperature"].get_ylabel() == "softmax temperature T"
    assert all(line.get_ydata().max() < 1 for line in titles["validation metrics"].get_lines())
