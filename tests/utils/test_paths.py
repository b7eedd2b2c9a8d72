"""paths: repo root, bundle folders (repo or cwd), cache folder from MONAI_PIPELINES_CACHE or ~/.cache."""

from __future__ import annotations

from pathlib import Path

import monai_pipelines
from monai_pipelines.utils.paths import CACHE_ENV, bundle_root, cache_dir, repo_root


def test_repo_root_holds_package_and_bundles():
    root = repo_root()
    assert (root / "monai_pipelines" / "__init__.py").is_file()
    assert Path(monai_pipelines.__file__).resolve().parent == root / "monai_pipelines"


def test_bundle_root_repo_then_cwd(tmp_path, monkeypatch):
    existing = next(p.name for p in (repo_root() / "bundles").iterdir() if p.is_dir())
    monkeypatch.chdir(tmp_path)
    assert bundle_root(existing) == str(repo_root() / "bundles" / existing)
    assert bundle_root("no_such_bundle") == str(tmp_path / "bundles" / "no_such_bundle")


def test_cache_dir_from_env_created(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    path = cache_dir("demo", "head")
    assert path == tmp_path / "c" / "demo" / "head" and path.is_dir()
    assert cache_dir() == tmp_path / "c"


def test_cache_dir_default_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir("x") == tmp_path / ".cache" / "monai_pipelines" / "x"
    assert (tmp_path / ".cache" / "monai_pipelines" / "x").is_dir()
