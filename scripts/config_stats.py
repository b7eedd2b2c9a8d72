"""Config size and duplication of the bundles' JSON configs (lines, `$` expressions, 6-line windows shared across bundles).

Usage: python scripts/config_stats.py [REPO] [-v]
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
files = sorted(root.glob("bundles/*/configs/*.json"))
files = [f for f in files if f.name != "metadata.json"]
dollar = 0
per_file = {}


def count_dollar(obj):
    if isinstance(obj, dict):
        return sum(count_dollar(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(count_dollar(v) for v in obj)
    return int(isinstance(obj, str) and obj.startswith("$"))


for f in files:
    n = count_dollar(json.loads(f.read_text()))
    dollar += n
    per_file[str(f.relative_to(root))] = (len(f.read_text().splitlines()), n)
for k, (lines, n) in per_file.items():
    print(f"{k:60s} {lines:5d} lines {n:4d} $")
print("total $ expressions:", dollar)
# six-line windows (ignoring lines that are only brackets/commas), repeated across bundles
windows = defaultdict(set)
for f in files:
    bundle = f.parts[-3]
    lines = [line.strip().rstrip(",") for line in f.read_text().splitlines()]
    lines = [line for line in lines if line not in ("{", "}", "[", "]", "},", "],", "")]
    for i in range(len(lines) - 5):
        windows[tuple(lines[i:i + 6])].add(bundle)
shared = {w: b for w, b in windows.items() if len(b) > 1}
print("six-line windows repeated across bundles:", len(shared))
if "-v" in sys.argv:
    for w, b in list(shared.items())[:400]:
        print(sorted(b))
        print("   " + "\n   ".join(w))
