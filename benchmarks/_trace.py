"""Profile labelled regions of a benchmark with torch.profiler and compare them: per region, the host time, the
operators run, and on a GPU the kernel launches, copies, synchronisations and the GPU's busy time; then the operators
that one region runs more often than another. Used to find where a loop's extra time per iteration goes.

    window = TraceWindow(device)
    window.start()
    with window.region("engine iteration"): ...
    with window.region("plain step"): ...
    print(window.stop(Path("trace.json.gz")))
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from _common import table
from torch.profiler import ProfilerActivity, profile, record_function

#: the CUDA runtime calls counted apart (substrings of their names)
LAUNCH, COPY, SYNC = "LaunchKernel", "Memcpy", "Synchronize"


class TraceWindow:
    """A torch.profiler session over regions named by the caller (``record_function`` labels)."""

    def __init__(self, device: torch.device | str, python: bool = False) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.python = python  # also record Python calls (with_stack): what the host does between operators
        self.labels: list[str] = []
        self._profile: profile | None = None

    def start(self) -> None:
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        self._profile = profile(activities=activities, with_stack=self.python)
        self._profile.__enter__()

    @property
    def active(self) -> bool:
        return self._profile is not None

    @contextlib.contextmanager
    def region(self, label: str) -> Iterator[None]:
        if label not in self.labels:
            self.labels.append(label)
        with record_function(label):
            yield

    def enter(self, label: str) -> Any:
        """A region opened here and closed by ``exit`` (for regions that span callbacks)."""
        if label not in self.labels:
            self.labels.append(label)
        handle = record_function(label)
        handle.__enter__()
        return handle

    @staticmethod
    def exit(handle: Any) -> None:
        handle.__exit__(None, None, None)

    def stop(self, path: Path | None = None) -> str:
        """Stop profiling; write the Chrome trace (gzipped when ``path`` ends in .gz) and return the comparison."""
        assert self._profile is not None, "start() first"
        self._profile.__exit__(None, None, None)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "trace.json"
            self._profile.export_chrome_trace(str(raw))
            trace = json.loads(raw.read_text())
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.suffix == ".gz":
                    with raw.open("rb") as src, gzip.open(path, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                else:
                    shutil.copy(raw, path)
        self._profile = None
        return compare_regions(trace, self.labels)


def _region_stats(events: list[dict], region: dict, gpu_time: dict[Any, float]) -> tuple[dict[str, float], Counter]:
    """Counts and times (ms) of the events inside one region on its thread; operator names counted."""
    start, end = region["ts"], region["ts"] + region["dur"]
    inside = [e for e in events if e.get("tid") == region.get("tid") and e.get("pid") == region.get("pid")
              and start <= e["ts"] and e["ts"] + e.get("dur", 0) <= end and e is not region]
    ops = [e for e in inside if e.get("cat") == "cpu_op"]
    runtime = [e for e in inside if e.get("cat") == "cuda_runtime"]
    syncs = [e for e in runtime if SYNC in e["name"]]
    stats = {
        "host ms": region["dur"] / 1e3,
        "operators": len(ops),
        "kernel launches": sum(LAUNCH in e["name"] for e in runtime),
        "copies": sum(COPY in e["name"] for e in runtime),
        "synchronisations": len(syncs),
        "waiting in them ms": sum(e.get("dur", 0) for e in syncs) / 1e3,
        "GPU busy ms": sum(gpu_time.get(e.get("args", {}).get("correlation"), 0.0) for e in runtime) / 1e3,
    }
    return stats, Counter(e["name"] for e in ops)


def compare_regions(trace: dict, labels: list[str], top: int = 15) -> str:
    """Markdown: medians per region label, then the operators the first label runs more often than the second."""
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    gpu_time: dict[Any, float] = {}
    for e in events:
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            key = e.get("args", {}).get("correlation")
            gpu_time[key] = gpu_time.get(key, 0.0) + e.get("dur", 0)
    per_label: dict[str, list[dict[str, float]]] = {label: [] for label in labels}
    counts: dict[str, Counter] = {label: Counter() for label in labels}
    for region in (e for e in events if e.get("cat") == "user_annotation" and e["name"] in per_label):
        stats, names = _region_stats(events, region, gpu_time)
        per_label[region["name"]].append(stats)
        counts[region["name"]].update(names)
    present = [label for label in labels if per_label[label]]
    if not present:
        return "no profiled region found in the trace."
    columns = list(per_label[present[0]][0])
    rows = [[column] + [f"{statistics.median(s[column] for s in per_label[label]):.2f}" for label in present]
            for column in columns]
    out = [f"Profiled regions (median per region; {', '.join(f'{len(per_label[k])} x {k}' for k in present)}):\n",
           table(["per region", *present], rows)]
    if len(present) >= 2:
        first, second = present[:2]
        n1, n2 = len(per_label[first]), len(per_label[second])
        diff = {name: counts[first][name] / n1 - counts[second][name] / n2
                for name in set(counts[first]) | set(counts[second])}
        worst = sorted(diff.items(), key=lambda item: -abs(item[1]))[:top]
        out += [f"\nOperators per region, {first} minus {second} (the largest differences):\n",
                table(["operator", f"{first}", f"{second}", "difference"],
                      [[name, f"{counts[first][name] / n1:.1f}", f"{counts[second][name] / n2:.1f}", f"{d:+.1f}"]
                       for name, d in worst])]
    return "\n".join(out)
