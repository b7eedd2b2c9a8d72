"""`python -m benchmarks` runs every benchmark at tiny size and writes RESULTS.md with every section (no rot)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from monai_pipelines.utils.paths import repo_root


def _rows(section: str, first_cell: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith(f"| {first_cell}")]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # six processes; on a loaded 2-core machine ITK's first use alone takes minutes
def test_one_command_writes_every_bundle_section(tmp_path):
    from benchmarks.run_all import PLAN

    out = tmp_path / "RESULTS.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--size", "tiny", "--output", str(out)],
                          cwd=repo_root(), capture_output=True, text=True, timeout=1700, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    check_results(out.read_text(), PLAN)


def check_results(text: str, plan: dict) -> None:
    assert "capability" in text and "torch " in text and "MONAI " in text and "peak RSS" in text
    assert "No GPU figure exists yet" in text or "GPU: NVIDIA" in text
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
    assert "engine overhead" in sections["mri_to_ct_unet3d"]
    assert "speed-up vs 1 worker" in sections["mmgan_missing_modality"]
    if "emulated" in text:  # bf16 is measured for real, and said to be emulated
        assert "bf16 (emulated on this CPU)" in sections["glacier_segmentation"]


def test_a_failing_benchmark_is_reported_and_fails_the_command(tmp_path, monkeypatch):
    from benchmarks import run_all

    monkeypatch.setattr(run_all, "PLAN", {"broken": {"tiny": [("missing", "no_such_script.py", [])]}})
    out = tmp_path / "RESULTS.md"
    assert run_all.main(["--size", "tiny", "--output", str(out)]) == 1
    text = out.read_text()
    assert "## broken" in text and "### missing" in text and "**failed**" in text
