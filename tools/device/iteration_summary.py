#!/usr/bin/env python3
"""Summarizes stratad's per-iteration debug lines (server.log_level=debug).

  tools/device/iteration_summary.py STRATAD_LOG[.xz] [--slowest N] [--between T0 T1]

Groups iterations by what they ran (decodes only; decodes beside a layered cohort, by its
layer range's position; decodes beside prompt chunks over all layers) and prints, per
group, the count and the wall time of plan + execute + after (mean, p50, p99, max) and its
execute part.

Where the lines carry it, the time between steps ("since the previous step": delivering the
last step's tokens, taking in requests) gives each step's cycle, from the previous step's
end to its own: what a decode stream's token waits on the server. The decode-only cycles
are fitted by a line against the decodes' longest context (the medians of 256-token bins,
least squares), and every iteration's cycle is divided by that line at its own decodes'
context: the server's side of strata-loadtest's `itl_p99_over_matched`, free of what
delivery and the clients add. Then the N slowest iterations as logged.
"""
import lzma
import re
import statistics
import sys

LINE = re.compile(
    r"iteration: (\d+) decodes, (\d+) prefill tokens \((.*)\), longest context (\d+)"
    r"(?:, longest decode context (\d+))?; "
    r"plan ([\d.e+-]+) ms, execute ([\d.e+-]+) ms, after ([\d.e+-]+) ms"
    r"(?:; since the previous step ([\d.e+-]+) ms)?")
BIN = 256  # tokens of decode context per bin of the decode-only fit


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


def parse(path):
    rows = []
    opener = lzma.open if path.endswith(".xz") else open
    for line in opener(path, "rt", errors="replace"):
        m = LINE.search(line)
        if not m:
            continue
        plan, execute, after = float(m[6]), float(m[7]), float(m[8])
        rows.append({
            "total": plan + execute + after,
            "execute": execute,
            "kind": kind(int(m[1]), m[3]),
            "decodes": int(m[1]),
            "decode_context": int(m[5]) if m[5] is not None else -1,
            "since": float(m[9]) if m[9] is not None else -1.0,
            "line": line.strip(),
        })
    return rows


def decode_only_line(timed, streams):
    """(intercept, slope) of decode-only cycle ms against decode context, or None."""
    bins = {}
    for r in timed:
        if r["kind"] == "decodes only" and r["decodes"] == streams and r["decode_context"] > 0:
            bins.setdefault(r["decode_context"] // BIN, []).append(r["cycle"])
    points = [((b + 0.5) * BIN, statistics.median(c)) for b, c in bins.items() if len(c) >= 5]
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def main():
    args = sys.argv[1:]
    slowest = 10
    if "--slowest" in args:
        i = args.index("--slowest")
        slowest = int(args[i + 1])
        del args[i:i + 2]
    window = None
    if "--between" in args:
        i = args.index("--between")
        window = (args[i + 1], args[i + 2])
        del args[i:i + 3]
    rows = parse(args[0])
    # --between T0 T1: only lines whose timestamp (the log's ISO prefix) lies in [T0, T1).
    if window:
        rows = [r for r in rows if window[0] <= r["line"][:len(window[0])] < window[1]]
    if not rows:
        print("no iteration lines (is server.log_level debug?)")
        return 1
    kinds = sorted({r["kind"] for r in rows})
    print("| iterations | count | total ms mean | p50 | p99 | max | execute ms mean | p99 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in kinds:
        total = [r["total"] for r in rows if r["kind"] == k]
        execute = [r["execute"] for r in rows if r["kind"] == k]
        print("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
            k, len(total), statistics.mean(total), percentile(total, 0.5),
            percentile(total, 0.99), max(total), statistics.mean(execute),
            percentile(execute, 0.99)))

    # The engine's first step has no previous one (since -1). After an idle wait "since" is
    # the idle time: the decode-only fit's medians and the ratios' p99 are what to read.
    timed = [r for r in rows if r["since"] >= 0]
    for r in timed:
        r["cycle"] = r["since"] + r["total"]
    if timed:
        print("\n| iterations | count | since ms p50 | p99 | max | cycle ms p50 | p90 | p99 | max |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for k in kinds:
            group = [r for r in timed if r["kind"] == k]
            if not group:
                continue
            since = [r["since"] for r in group]
            cycle = [r["cycle"] for r in group]
            print("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
                k, len(group), percentile(since, 0.5), percentile(since, 0.99), max(since),
                percentile(cycle, 0.5), percentile(cycle, 0.9), percentile(cycle, 0.99),
                max(cycle)))

    # The fit takes the decode-only iterations of the usual decode count (the background
    # streams); the ratios, every iteration with at least that many decodes.
    counts = [r["decodes"] for r in timed if r["kind"] == "decodes only" and r["decodes"] > 0]
    streams = statistics.mode(counts) if counts else 0
    fit = decode_only_line(timed, streams)
    if fit:
        intercept, slope = fit
        print("\ndecode-only cycle (%d decodes) = %.3f ms + %.3f ms per 1000 tokens of decode "
              "context" % (streams, intercept, slope * 1000))
        print("\n| iterations with decodes | count | cycle / decode-only at their context p50 "
              "| p90 | p99 | max |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        with_decodes = [r for r in timed if r["decodes"] >= streams and r["decode_context"] > 0]
        groups = [(k, [r for r in with_decodes if r["kind"] == k]) for k in kinds]
        groups.append(("all", with_decodes))
        for k, group in groups:
            if not group:
                continue
            ratios = [r["cycle"] / (intercept + slope * r["decode_context"]) for r in group]
            print("| %s | %d | %.3f | %.3f | %.3f | %.3f |" % (
                k, len(ratios), percentile(ratios, 0.5), percentile(ratios, 0.9),
                percentile(ratios, 0.99), max(ratios)))

    print("\nslowest %d:" % slowest)
    for r in sorted(rows, key=lambda r: r["total"], reverse=True)[:slowest]:
        print("  " + r["line"][-240:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
