"""`monai-pipelines manifest validate|show`, run in-process through the dispatcher."""

from __future__ import annotations

import json

import pytest

from monai_pipelines import cli
from monai_pipelines.data.manifest import build_manifest, write_manifest


@pytest.fixture
def manifest_file(tmp_path):
    items = [
        {"image": f"sub-{s:03d}/t1_{j}.nii.gz", "label": int(s % 4 == 0), "subject": f"sub-{s:03d}"}
        for s in range(60)
        for j in range(2)
    ]
    manifest = build_manifest("glioma", items, k=5, seed=0, labels={"0": "LGG", "1": "HGG"}, modality="FLAIR")
    return write_manifest(manifest, tmp_path / "glioma.json")


def run(capsys, *argv):
    code = cli.main(["manifest", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err.strip()


def test_validate_ok_prints_one_summary_line(capsys, manifest_file):
    code, out, err = run(capsys, "validate", manifest_file)
    assert code == 0 and err == ""
    assert out == [
        "ok: 60 subjects, 5 folds, training 40 / validation 11 / test 9 subjects; "
        "items training 80 / validation 22 / test 18"
    ]


def test_validate_missing_files_one_line_each_exit_1(capsys, manifest_file, tmp_path):
    data = tmp_path / "data"
    manifest = json.loads(manifest_file.read_text())
    items = manifest["training"] + manifest["validation"] + manifest["test"]
    for it in items[2:]:
        (data / it["image"]).parent.mkdir(parents=True, exist_ok=True)
        (data / it["image"]).touch()
    code, out, _ = run(capsys, "validate", manifest_file, "--dataset-dir", data)
    assert code == 1
    expected = [
        f"missing file: {it['image']} (training[{i}], subject {it['subject']})"
        for i, it in enumerate(items[:2])
    ]
    assert out == expected
    (data / items[0]["image"]).parent.mkdir(parents=True, exist_ok=True)
    (data / items[0]["image"]).touch()
    (data / items[1]["image"]).touch()
    code, out, _ = run(capsys, "validate", manifest_file, "--dataset-dir", data)
    assert code == 0 and out[0].startswith("ok: 60 subjects") and out[0].endswith(f"all files found under {data}")


def test_validate_reports_every_problem(capsys, manifest_file):
    manifest = json.loads(manifest_file.read_text())
    manifest["test"].append(dict(manifest["training"][0], fold=-1))  # duplicate and subject in two splits
    manifest["validation"][0].pop("fold")
    manifest_file.write_text(json.dumps(manifest))
    code, out, _ = run(capsys, "validate", manifest_file)
    assert code == 1 and len(out) == 3
    assert out[0] == "invalid manifest: validation[0]: 'fold' is a required property"
    assert out[1].startswith(f"subject {manifest['training'][0]['subject']} is in 2 splits (training, test)")
    assert out[2].startswith("duplicate item: image=") and out[2].endswith("in training[0] and test[18]")


def test_missing_or_broken_file_is_one_error_line(capsys, tmp_path):
    code, out, err = run(capsys, "validate", tmp_path / "nope.json")
    assert (code, out, err) == (1, [], f"error: {tmp_path / 'nope.json'}: no such file")
    (tmp_path / "bad.json").write_text("{\"name\": ")
    code, out, err = run(capsys, "show", tmp_path / "bad.json")
    assert code == 1 and err.startswith("error: ") and "not valid JSON" in err and "\n" not in err


def test_show_counts_per_split_and_label(capsys, manifest_file):
    code, out, _ = run(capsys, "show", manifest_file, "--fold", 3)
    assert code == 0
    assert out[0] == "glioma (FLAIR): 5 folds, seed 0, fold 3 held out for validation"
    assert out[1].split() == ["split", "subjects", "items", "HGG", "LGG"]
    rows = {line.split()[0]: [int(v) for v in line.split()[1:]] for line in out[2:5]}
    assert rows["validation"] == [10, 20, 3, 7] and rows["test"] == [9, 18, 2, 7]
    assert sum(r[0] for r in rows.values()) == 60 and sum(r[2] for r in rows.values()) == 15
    code, _, err = run(capsys, "show", manifest_file, "--fold", 5)
    assert code == 1 and "fold 5 out of range" in err
