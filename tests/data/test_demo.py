"""Demo datasets: generated once into the (test-redirected) cache, atomic on failure, resolve_dataset lookups."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from monai_pipelines.data import demo
from monai_pipelines.data.demo import DEMO_DATASETS, MANIFEST_NAME, ensure_demo_dataset, resolve_dataset
from monai_pipelines.utils.paths import cache_dir


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Register demo generators in a fake module; ``calls`` counts generations; a fresh cache per test."""
    monkeypatch.setenv("MONAI_PIPELINES_CACHE", str(tmp_path / "cache"))
    calls = []
    module = types.ModuleType("fake_demo_generators")

    def tiny(out_dir):
        calls.append(Path(out_dir))
        (Path(out_dir) / "img.txt").write_text("data")
        (Path(out_dir) / MANIFEST_NAME).write_text(json.dumps({"name": "tiny", "run": len(calls)}))

    def broken(out_dir):
        calls.append(Path(out_dir))
        (Path(out_dir) / "half.txt").write_text("half")
        raise OSError("disk full")

    def no_manifest(out_dir):
        calls.append(Path(out_dir))
        (Path(out_dir) / "img.txt").write_text("data")

    def raced(out_dir):  # another process completes the same dataset while this one generates
        calls.append(Path(out_dir))
        other = Path(out_dir).parent / "raced"
        other.mkdir()
        (other / MANIFEST_NAME).write_text(json.dumps({"by": "other"}))
        (Path(out_dir) / MANIFEST_NAME).write_text(json.dumps({"by": "me"}))

    for f in (tiny, broken, no_manifest, raced):
        setattr(module, f.__name__, f)
        monkeypatch.setitem(DEMO_DATASETS, f.__name__, f"fake_demo_generators:{f.__name__}")
    monkeypatch.setitem(sys.modules, "fake_demo_generators", module)
    return calls


def _leftovers():
    return sorted(p.name for p in cache_dir("demo").iterdir())


def test_generates_once_into_cache(fake, tmp_path):
    location = ensure_demo_dataset("tiny")
    target = tmp_path / "cache" / "demo" / "tiny"
    assert location.dataset_dir == str(target) and location.manifest == str(target / MANIFEST_NAME)
    assert (target / "img.txt").read_text() == "data" and len(fake) == 1
    assert fake[0] != target  # written elsewhere, then renamed into place
    again = ensure_demo_dataset("tiny")
    assert again == location and len(fake) == 1  # not regenerated
    assert json.loads((target / MANIFEST_NAME).read_text())["run"] == 1
    assert _leftovers() == ["tiny"]


def test_incomplete_earlier_attempt_is_replaced(fake, tmp_path):
    stale = tmp_path / "cache" / "demo" / "tiny"
    stale.mkdir(parents=True)
    (stale / "junk.txt").write_text("x")  # no manifest: not complete
    ensure_demo_dataset("tiny")
    assert len(fake) == 1 and not (stale / "junk.txt").exists() and (stale / MANIFEST_NAME).is_file()


def test_failing_generator_leaves_nothing(fake):
    with pytest.raises(OSError, match="disk full"):
        ensure_demo_dataset("broken")
    assert _leftovers() == []
    with pytest.raises(RuntimeError, match="wrote no manifest.json"):
        ensure_demo_dataset("no_manifest")
    assert _leftovers() == []


def test_concurrent_completion_is_kept(fake):
    location = ensure_demo_dataset("raced")
    assert json.loads(Path(location.manifest).read_text()) == {"by": "other"}
    assert _leftovers() == ["raced"]


def test_unknown_name(fake):
    with pytest.raises(ValueError, match="unknown demo dataset 'nope'.*tiny"):
        ensure_demo_dataset("nope")
    with pytest.raises(ValueError, match="no dataset_dir"):
        resolve_dataset(None, None, None)


def test_resolve_dataset_demo_and_manifest_lookup(fake, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "data_manifests").mkdir(parents=True)
    (repo / "data_manifests" / "split_b.json").write_text("{}")
    monkeypatch.setattr(demo, "repo_root", lambda: repo)

    location = resolve_dataset(None, None, "tiny")
    assert location == ensure_demo_dataset("tiny")
    other = resolve_dataset(None, "split_b.json", "tiny")  # demo images, another manifest from data_manifests/
    assert other.dataset_dir == location.dataset_dir and other.manifest == str(repo / "data_manifests" / "split_b.json")

    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(FileNotFoundError, match="manifest.json: manifest not found"):
        resolve_dataset(str(data), None)
    (data / MANIFEST_NAME).write_text("{}")
    assert resolve_dataset(str(data), None).manifest == str(data / MANIFEST_NAME)
    assert resolve_dataset(str(data), "split_b.json").manifest == str(repo / "data_manifests" / "split_b.json")
    explicit = tmp_path / "m.json"
    explicit.write_text("{}")
    assert resolve_dataset(str(data), str(explicit)) == demo.DatasetLocation(str(data), str(explicit))
    with pytest.raises(FileNotFoundError, match="missing.json: manifest not found"):
        resolve_dataset(str(data), "missing.json")


def test_dataset_dir_not_a_folder(tmp_path):
    file = tmp_path / "f.json"
    file.write_text("{}")
    for bad in (file, tmp_path / "absent"):
        with pytest.raises(FileNotFoundError, match="dataset_dir is not a folder"):
            resolve_dataset(str(bad), None)


def test_cache_is_redirected_by_conftest():
    assert Path.home() / ".cache" not in cache_dir().parents


def test_versioned_demo_gets_its_own_folder(fake, tmp_path, monkeypatch):
    from monai_pipelines.data import demo

    monkeypatch.setitem(demo.DEMO_VERSIONS, "tiny", 3)
    location = demo.ensure_demo_dataset("tiny")
    assert Path(location.dataset_dir) == tmp_path / "cache" / "demo" / "tiny_v3"
    assert demo.demo_folder_name("unversioned") == "unversioned"


def _paired_folder(root: Path, n_train: int = 6) -> Path:
    import nibabel as nib
    import numpy as np

    for folder, names in (("train", [f"patient_{i}" for i in range(n_train)]), ("test", ["patient_t"])):
        for side in "AB":
            (root / f"{folder}{side}").mkdir(parents=True, exist_ok=True)
            for name in names:
                nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.int16), np.eye(4)),
                         str(root / f"{folder}{side}" / f"{name}.nii.gz"))
    return root


def test_paired_layout_gets_a_seeded_manifest_on_first_use_and_keeps_it(tmp_path, caplog):
    root = _paired_folder(tmp_path / "ct_phases_dataset")
    with pytest.raises(FileNotFoundError, match="manifest not found"):  # no layout named: nothing is built
        resolve_dataset(str(root), None)
    caplog.set_level("INFO", logger="monai_pipelines")
    location = resolve_dataset(str(root), None, layout="paired")
    assert location.manifest == str(root / MANIFEST_NAME)
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    assert manifest["folds"] == 5 and manifest["seed"] == 0
    assert [it["subject"] for it in manifest["test"]] == ["patient_t"]
    assert sorted({it["fold"] for it in manifest["training"] + manifest["validation"]}) == [0, 1, 2, 3, 4]
    assert "had no manifest.json: built one from its paired layout with seeded folds (5 folds, seed 0" in caplog.text
    before = (root / MANIFEST_NAME).read_bytes()
    caplog.clear()
    resolve_dataset(str(root), None, layout="paired")  # later runs reuse the saved folds, silently
    assert (root / MANIFEST_NAME).read_bytes() == before and "built one" not in caplog.text


def test_layout_too_small_for_the_folds_is_one_line(tmp_path):
    root = _paired_folder(tmp_path / "small", n_train=3)
    with pytest.raises(ValueError, match=r"the paired layout gave none: cannot make 5 folds .* manifest build paired"):
        resolve_dataset(str(root), None, layout="paired")
    assert not (root / MANIFEST_NAME).exists()
