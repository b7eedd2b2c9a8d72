"""`python -m benchmarks` at tiny size writes RESULTS.md with every section (no rot).

The smoke run calls every script in the test's process (``--in-process``), so it pays no interpreter start-up or
imports per script. Two run only in ``python -m benchmarks --size tiny``: ``prepare ixi`` (a minute of ITK
registration even at tiny size; its code paths are tested in tests/data/test_ixi.py) and the full bundle engine
(it generates the bundle's demo data set first).
"""

from __future__ import annotations

import logging
import re

import pytest
import torch


def _rows(section: str, first_cell: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith(f"| {first_cell}")]


@pytest.fixture
def one_thread():
    """Tiny networks: one torch thread (two threads' barriers cost more than they save here, worse on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.timeout(300)
def test_one_command_writes_every_bundle_section(tmp_path, one_thread):
    from benchmarks import run_all

    out = tmp_path / "RESULTS.md"
    skip = ["bench_prepare_ixi.py", "bench_bundle_engine.py"]
    assert run_all.main(["--size", "tiny", "--in-process", "--skip", *skip, "--output", str(out)]) == 0
    assert logging.root.manager.disable == logging.NOTSET  # the tests after it still log (a script silenced it)
    text = out.read_text()
    check_results(text, run_all.PLAN)
    assert "--in-process" in text and all(f"not run (`--skip {s}`)" in text for s in skip)


def check_results(text: str, plan: dict) -> None:
    assert "capability" in text and "torch " in text and "MONAI " in text and "peak RSS" in text
    assert "GPU figures: benchmarks/RESULTS_GPU.md" in text or "GPU: NVIDIA" in text
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    assert set(sections) == set(plan)
    for bundle, sizes in plan.items():
        for caption, *_ in sizes["tiny"]:
            assert f"### {caption}" in sections[bundle]
        assert "**failed**" not in sections[bundle]
    for bundle in ("mmgan_missing_modality", "glioma_grade_resnet50_3d", "glacier_segmentation"):
        names = [r[0] for r in _rows(sections[bundle], "fp32") + _rows(sections[bundle], "bf16")
                 + _rows(sections[bundle], "channels_last")]
        assert len(names) == 4 and "channels_last" in names
    pix2pix = sections["ct_phase_pix2pix"]
    training = [r for r in _rows(pix2pix, "fp32") + _rows(pix2pix, "bf16") if len(r) > 2]  # not the inference table
    assert len(training) == 4
    for _name, plain, engine, ratio, *_ in training:
        assert abs(float(engine) / float(plain) - float(ratio)) < 0.01
    assert "ms per shuffled slice" in pix2pix and "slice cache: x" in pix2pix
    for bundle in ("ct_phase_pix2pix", "mmgan_missing_modality"):  # the data path at scale, through train.json
        scale = sections[bundle].split("### the training data path at scale")[1]
        (row,) = _rows(scale, "defaults")
        assert float(row[1]) > 0 and float(row[6]) > 0 and 0 < float(row[7]) < 100, row
    assert "engine overhead" in sections["mri_to_ct_unet3d"]
    optimizer = sections["mri_to_ct_unet3d"].split("### fused vs foreach optimizer")[1]
    assert "| mri_to_ct_unet3d optimizer (AdamW) |" in optimizer and "fused speed-up" in optimizer
    tiny_convolutions = sections["mri_to_ct_unet3d"].split("### CPU bf16 training")[1]
    kept = re.search(r"(\d+) of \d+ convolution calls per forward", tiny_convolutions)
    assert (kept and int(kept[1]) > 0 and "| tiny convolutions in fp32 (the bundles') |" in tiny_convolutions) \
        or "not measured: this CPU has no native bf16" in tiny_convolutions
    assert "compiled kernel speed-up: x" in sections["glacier_segmentation"]  # numba: in the dev extra
    from benchmarks._common import native_bf16
    from benchmarks.bench_inference_real import PRECISION_VARIANTS

    for bundle, inputs in (("ct_phase_pix2pix", 1), ("glioma_grade_resnet50_3d", 2), ("glacier_segmentation", 2)):
        inference = sections[bundle].split("inference, fp32 vs bf16 vs bf16 + channels-last")[1].split("\n### ")[0]
        if "real sample images not found" in inference:
            continue
        rows = [r for r in _rows(inference, "") if len(r) > 2 and r[1] in PRECISION_VARIANTS]
        assert [r[1] for r in rows] == list(PRECISION_VARIANTS) * inputs, inference
        for _input, variant, seconds, speed_up, _peak, difference, _load in rows:
            assert float(seconds) > 0 and speed_up.startswith("x")
            if variant.startswith("fp32"):
                assert (speed_up, difference) == ("x1.00", "0 / 0")
            elif native_bf16():  # bf16 rounds: the outputs differ from fp32's (emulated bf16 computes fp32)
                assert float(difference.split(" / ")[0]) > 0, (bundle, variant, difference)
        assert "the bundle's default on this CPU: amp " in inference
    if "--skip bench_bundle_engine.py" not in text:
        assert "full engine / plain loop: ratio" in sections["mri_to_ct_unet3d"]
    if "--skip bench_prepare_ixi.py" not in text:
        assert "speed-up vs 1 worker" in sections["mmgan_missing_modality"]
    if "emulated" in text:  # bf16 is measured for real, and said to be emulated
        assert "bf16 (emulated on this CPU)" in sections["glacier_segmentation"]


def test_a_failing_benchmark_is_reported_and_fails_the_command(tmp_path, monkeypatch):
    from benchmarks import run_all

    monkeypatch.setattr(run_all, "PLAN", {"broken": {"tiny": [("missing", "no_such_script.py", [])]}})
    for mode in ([], ["--in-process"]):
        out = tmp_path / "RESULTS.md"
        assert run_all.main(["--size", "tiny", "--output", str(out), *mode]) == 1
        text = out.read_text()
        assert "## broken" in text and "### missing" in text and "**failed**" in text
