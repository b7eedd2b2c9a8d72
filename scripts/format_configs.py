"""Format bundle JSON configs: 4-space indent, a container that fits in 110 columns on one line (lists of
components one per line). Usage: python scripts/format_configs.py bundles/*/configs/*.json
"""
import json
import sys
from collections import OrderedDict

WIDTH = 110

def fmt(obj, indent=0):
    one = json.dumps(obj)
    if not isinstance(obj, (dict, list)) or (len(one) + indent <= WIDTH and not _has_component(obj)):
        return one
    pad = " " * (indent + 4)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {fmt(v, indent + 4)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + fmt(v, indent + 4) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"

def _has_component(obj):
    # a list of components keeps one per line; a component that fits on a line stays on it
    if isinstance(obj, list):
        return sum(isinstance(v, dict) and "_target_" in v for v in obj) > 1
    if isinstance(obj, dict):
        return any(_has_component(v) for v in obj.values())
    return False

for path in sys.argv[1:]:
    data = json.load(open(path), object_pairs_hook=OrderedDict)
    open(path, "w").write(fmt(data) + "\n")
