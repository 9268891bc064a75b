#!/usr/bin/env python3
"""Summarizes stratad's per-iteration debug lines (server.log_level=debug).

  tools/device/iteration_summary.py STRATAD_LOG [--slowest N]

Groups iterations by what they ran (decodes only; decodes beside a layered cohort, by its
layer range's position; decodes beside prompt chunks over all layers) and prints, per
group, the count and the wall time of plan + execute + after (mean, p50, p99, max) and its
execute part; then the N slowest iterations as logged.
"""
import re
import statistics
import sys

LINE = re.compile(
    r"iteration: (\d+) decodes, (\d+) prefill tokens \((.*)\), longest context (\d+); "
    r"plan ([\d.e+-]+) ms, execute ([\d.e+-]+) ms, after ([\d.e+-]+) ms")


def kind(decodes, prefills):
    if not prefills:
        return "decodes only"
    layers = re.findall(r"layers \[(\d+), (\d+)\)", prefills)
    if not layers:
        return "prompt chunks over all layers"
    begin, _ = layers[0]
    return "cohort, first group" if begin == "0" else "cohort, later group"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    args = sys.argv[1:]
    slowest = 10
    if "--slowest" in args:
        i = args.index("--slowest")
        slowest = int(args[i + 1])
        del args[i:i + 2]
    rows = []
    for line in open(args[0], errors="replace"):
        m = LINE.search(line)
        if not m:
            continue
        decodes, tokens, prefills, context = int(m[1]), int(m[2]), m[3], int(m[4])
        plan, execute, after = float(m[5]), float(m[6]), float(m[7])
        rows.append((plan + execute + after, execute, kind(decodes, prefills), line.strip()))
    if not rows:
        print("no iteration lines (is server.log_level debug?)")
        return 1
    print("| iterations | count | total ms mean | p50 | p99 | max | execute ms mean | p99 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in sorted({r[2] for r in rows}):
        total = [r[0] for r in rows if r[2] == k]
        execute = [r[1] for r in rows if r[2] == k]
        print("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
            k, len(total), statistics.mean(total), percentile(total, 0.5),
            percentile(total, 0.99), max(total), statistics.mean(execute),
            percentile(execute, 0.99)))
    print("\nslowest %d:" % slowest)
    for r in sorted(rows, reverse=True)[:slowest]:
        print("  " + r[3][-220:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
