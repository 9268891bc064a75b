#!/usr/bin/env python3
"""Per-kernel time breakdown of an Nsight Compute raw CSV export (perf_check.sh ncu).

    python3 tools/device/ncu_summary.py ncu-raw.csv [--labels decode-b1,decode-b8,prefill-8k]

The profiled ranges are told apart by their first kernel (the embedding gather into the
float32 residual that starts every forward pass). For each range: kernels grouped by name,
launches, summed duration, share of the range, DRAM bytes and achieved DRAM bandwidth,
and the DRAM and SM throughput as percentages of peak (duration-weighted). Durations are
Nsight Compute's, one kernel at a time with caches flushed: no overlap between kernels.
"""
import argparse
import csv
import re
from collections import OrderedDict


def short_name(name):
    name = re.sub(r"\(.*\)$", "", name)  # drop the parameter list
    name = name.replace("void ", "").replace("(anonymous namespace)::", "")
    name = re.sub(r"^.*?([A-Za-z_0-9]+(<[^()]*>)?)$", r"\1", name)
    return name[:70]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--labels", default="")
    args = parser.parse_args()
    rows = list(csv.reader(open(args.csv)))
    header = rows[0]
    units = rows[1]
    col = {h: i for i, h in enumerate(header)}

    def value(row, metric, scale_to):
        if metric not in col or not row[col[metric]]:
            return 0.0  # not collected
        v = float(row[col[metric]].replace(",", ""))
        unit = units[col[metric]]
        factors = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6, "usecond": 1.0, "nsecond": 1e-3,
                   "msecond": 1e3, "byte": 1e-6, "Kbyte": 1e-3, "Mbyte": 1.0, "Gbyte": 1e3}
        return v * factors.get(unit, 1.0) if scale_to else v

    ranges = []
    for row in rows[2:]:
        name = row[col["Kernel Name"]]
        if "EmbeddingKernel<float" in name or not ranges:
            ranges.append([])
        ranges[-1].append(row)
    labels = args.labels.split(",") if args.labels else []
    for index, kernels in enumerate(ranges):
        label = labels[index] if index < len(labels) else f"range {index}"
        groups = OrderedDict()
        total = 0.0
        for row in kernels:
            name = short_name(row[col["Kernel Name"]])
            us = value(row, "gpu__time_duration.sum", True)
            mb = value(row, "dram__bytes_read.sum", True) + value(row, "dram__bytes_write.sum", True)
            g = groups.setdefault(name, {"n": 0, "us": 0.0, "mb": 0.0, "dram": 0.0, "sm": 0.0,
                                         "grid": row[col["launch__grid_size"]]})
            g["n"] += 1
            g["us"] += us
            g["mb"] += mb
            g["dram"] += us * value(row, "dram__throughput.avg.pct_of_peak_sustained_elapsed", False)
            g["sm"] += us * value(row, "sm__throughput.avg.pct_of_peak_sustained_elapsed", False)
            total += us
        print(f"\n### {label}: {len(kernels)} kernels, {total:.1f} us summed\n")
        print("| kernel | launches | grid | us | share | MB | GB/s | DRAM % peak | SM % peak |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["us"]):
            gbs = g["mb"] / g["us"] * 1e3 if g["us"] else 0.0  # MB/us = TB/s
            print(f"| {name} | {g['n']} | {g['grid']} | {g['us']:.1f} | "
                  f"{100 * g['us'] / total:.1f}% | {g['mb']:.1f} | {gbs:.0f} | "
                  f"{g['dram'] / g['us']:.0f}% | {g['sm'] / g['us']:.0f}% |")


if __name__ == "__main__":
    main()
