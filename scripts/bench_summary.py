#!/usr/bin/env python3
"""Prints a readable summary of Google Benchmark JSON output (from --benchmark_format=json
with repetitions): per benchmark the median real time, the spread (min..max over the
repetitions) and the median of every user counter."""
import json
import sys
from collections import OrderedDict


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_count(v):
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def main(path):
    with open(path) as f:
        data = json.load(f)
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
    runs = OrderedDict()
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        runs.setdefault(b["run_name"], []).append(b)
    ctx = data.get("context", {})
    print(f"machine: {ctx.get('num_cpus', '?')} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"{ctx.get('host_name', '')}, build {ctx.get('library_build_type', '?')}")
    for name, reps in runs.items():
        times = sorted(r["real_time"] * scale[r.get("time_unit", "ns")] for r in reps)
        median = times[len(times) // 2]
        line = f"  {name:<48} median {fmt_time(median):>10}  " \
               f"(min {fmt_time(times[0])}, max {fmt_time(times[-1])}, n={len(times)})"
        skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
                "iterations", "real_time", "cpu_time", "time_unit", "family_index",
                "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
                "error_occurred", "error_message"}
        counters = [k for k in reps[0] if k not in skip and isinstance(reps[0][k], (int, float))]
        parts = []
        for k in counters:
            vals = sorted(r[k] for r in reps)
            parts.append(f"{k}={fmt_count(vals[len(vals) // 2])}")
        if parts:
            line += "  " + " ".join(parts)
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
