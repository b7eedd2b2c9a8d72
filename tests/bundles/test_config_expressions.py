"""Every ``$`` expression in every bundle config compiles on this Python, as MONAI rewrites it before ``eval``.

MONAI replaces ``@id`` inside an expression by ``__local_refs['id']``; inside an f-string that nests single quotes,
which Python < 3.12 cannot parse, so ``f'cuda:{@local_rank}'`` only fails when the config runs (e.g. under torchrun).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monai.bundle.reference_resolver import ReferenceResolver

from monai_pipelines.utils.paths import repo_root

CONFIG_FILES = sorted((repo_root() / "bundles").glob("*/configs/*.json"))


def _expressions(node: Any) -> Iterator[str]:
    if isinstance(node, str) and node.startswith("$"):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _expressions(value)


def test_every_bundle_has_configs():
    assert len({p.parent.parent.name for p in CONFIG_FILES}) == 5


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_expressions_compile_after_reference_substitution(path: Path):
    broken = []
    for expr in map(ReferenceResolver.normalize_id, _expressions(json.loads(path.read_text()))):
        refs = {ref[len(ReferenceResolver.ref):]: None for ref in ReferenceResolver.id_matcher.findall(expr)}
        code = ReferenceResolver.update_refs_pattern(expr, refs)[1:]
        try:
            ast.parse(code)
        except SyntaxError as e:
            broken.append(f"{expr!r}: {e.msg}")
    assert broken == []


def _references(config: Any, item_id: str) -> set[str]:
    """Every id that ``item_id`` of ``config`` refers to, directly or through the ids it refers to."""
    from monai.bundle import ConfigParser

    parser = ConfigParser(config)
    seen: set[str] = set()
    todo = [item_id]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in parser:
            found = ReferenceResolver.find_refs_in_config(parser[current], current)
            todo += [ref for ref in found if not ref.startswith(f"{current}#")]
    return seen - {item_id}


@pytest.mark.parametrize("bundle", sorted({p.parent.parent.name for p in CONFIG_FILES}))
def test_network_definition_resolves_without_run_context(bundle: str):
    """``ckpt_export`` and ``verify_net_in_out`` parse inference.json with a plain ConfigParser (no RunContext adds
    the standard ids): everything ``network_def`` depends on is written in the file itself."""
    from monai.bundle import ConfigParser

    config = json.loads((repo_root() / "bundles" / bundle / "configs" / "inference.json").read_text())
    parser = ConfigParser(config)
    missing = sorted(ref for ref in _references(config, "network_def") if ref not in parser)
    assert missing == [], f"network_def of {bundle}/inference.json needs ids the file does not define: {missing}"
