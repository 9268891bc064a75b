#!/usr/bin/env python3
"""The table of tools/device/layered_check.sh: one row per (model, prefill mode, rate) from
strata-loadtest result files, then the layered-prefill targets checked against it.

    layered_table.py CELLS.tsv

CELLS.tsv lines: model, mode (e.g. chunked:2048), rate, result JSON path, status ("ok" or
why the cell has no result). Prints Markdown on stdout.
"""
import json
import sys


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return None
        d = d[k]
    return d


def fmt(v, spec=".1f"):
    return "n/a" if v is None else format(v, spec)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def check(where, lay, chk):
    """Prints the layered-prefill targets for one layered cell against a chunked one."""
    where = f"{where}, {lay['mode']}"
    ratio, matched = lay.get("ratio"), lay.get("matched")
    if matched is not None:
        verdict = "PASS" if matched <= 1.3 else "FAIL"
        print(f"- {where}: TBT p99 / decode-only iteration at the same contexts = "
              f"{matched:.2f} (target <= 1.3): {verdict}; against the lead-in's "
              f"(shortest contexts) {fmt(ratio, '.2f')}")
    else:
        verdict = "n/a" if ratio is None else ("PASS" if ratio <= 1.3 else "FAIL")
        print(f"- {where}: TBT p99 / decode-only iteration = {fmt(ratio, '.2f')} "
              f"(target <= 1.3): {verdict}")
    if chk is None:
        print(f"- {where}: no chunked result to compare with")
        return
    lt, ct, lb, cb = lay.get("ttft_mean"), chk.get("ttft_mean"), lay.get("tbt_p99"), \
        chk.get("tbt_p99")
    if None not in (lt, ct):
        note = ""
        if lb and cb and abs(lb - cb) / cb > 0.15:
            note = (f"; TBT p99 differs ({lb:.1f} vs {cb:.1f} ms), so not at equal TBT: "
                    "compare with a chunked budget of matching TBT")
        verdict = "PASS" if lt <= ct else "FAIL"
        print(f"- {where}: TTFT mean layered {lt:.1f} ms vs {chk['mode']} {ct:.1f} ms: "
              f"{verdict}{note}")
    le, ce = lay.get("expert"), chk.get("expert")
    if le is not None and ce is not None and ce > 0:
        print(f"- {where}: expert-weight traffic per generated token layered "
              f"{le:.4g} MB vs {chk['mode']} {ce:.4g} MB: {abs(100 * (1 - le / ce)):.1f}% "
              f"{'lower' if le < ce else 'HIGHER'} ({ce / le:.2f}x)"
              if le > 0 else f"- {where}: layered read no expert weights")


def main():
    cells = []
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            model, mode, rate, path, status = parts
            r = load(path) if status == "ok" else None
            cells.append({"model": model, "mode": mode, "rate": float(rate), "r": r,
                          "status": status if r is not None or status != "ok" else "no result"})

    # "decode-only ms": the lead-in's median gap, at the run's shortest contexts; "same
    # contexts": with a lead-out, each gap over decode-only at the streams' context then
    # (strata-loadtest --lead-out), and that line's value mid-load.
    print("| model | prefill mode | rate (req/s) | done/sent | TTFT mean ms | TTFT p99 ms "
          "| TBT p99 ms | decode-only ms | TBT p99 / decode-only "
          "| decode-only ms, load contexts | TBT p99 / decode-only, same contexts "
          "| E2E mean ms | expert MB / gen. token |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: |")
    for c in cells:
        r = c["r"]
        if r is None:
            print(f"| {c['model']} | {c['mode']} | {c['rate']:g} | {c['status']} "
                  "| | | | | | | | | |")
            continue
        c["ttft_mean"] = get(r, "ttft_ms", "mean")
        c["ttft_p99"] = get(r, "ttft_ms", "p99")
        c["tbt_p99"] = get(r, "decode_streams", "all_itl_ms", "p99")
        c["base"] = get(r, "decode_streams", "baseline_itl_ms", "p50")
        c["ratio"] = get(r, "decode_streams", "itl_p99_over_baseline")
        c["matched_base"] = get(r, "decode_streams", "matched_decode_only_ms")
        c["matched"] = get(r, "decode_streams", "itl_p99_over_matched")
        c["e2e_mean"] = get(r, "e2e_ms", "mean")
        bpt = get(r, "server_metrics", "expert_weight_bytes_per_token")
        c["expert"] = None if bpt is None else bpt / 1e6
        sent = r.get("num_requests", 0) - r.get("not_sent", 0)
        done = f"{r.get('completed', 0)}/{sent}"
        if get(r, "decode_streams", "failed"):
            done += f"; decode streams failed: {get(r, 'decode_streams', 'first_error')}"
        if r.get("failed"):
            done += f" ({', '.join(f'{k} {v}' for k, v in r.get('errors', {}).items())})"
        print(f"| {c['model']} | {c['mode']} | {c['rate']:g} | {done} | {fmt(c['ttft_mean'])} "
              f"| {fmt(c['ttft_p99'])} | {fmt(c['tbt_p99'])} | {fmt(c['base'], '.2f')} "
              f"| {fmt(c['ratio'], '.2f')} | {fmt(c['matched_base'], '.2f')} "
              f"| {fmt(c['matched'], '.2f')} | {fmt(c['e2e_mean'])} "
              f"| {fmt(c['expert'], '.1f' if (c['expert'] or 0) >= 10 else '.4f')} |")

    def of_kind(model, kind, rate):
        return [c for c in cells if c["model"] == model and c["mode"].split(":")[0] == kind
                and c["rate"] == rate and c["r"] is not None]

    def nearest_tbt(candidates, tbt):
        known = [c for c in candidates if c.get("tbt_p99") is not None]
        if not known or tbt is None:
            return candidates[0] if candidates else None
        return min(known, key=lambda c: abs(c["tbt_p99"] - tbt))

    print("\nTargets (each layered mode against the chunked mode of nearest TBT p99):")
    for model in dict.fromkeys(c["model"] for c in cells):
        for rate in dict.fromkeys(c["rate"] for c in cells if c["model"] == model):
            where = f"{model} @ {rate:g} req/s"
            if not of_kind(model, "layered", rate):
                print(f"- {where}: no layered result")
            for lay in of_kind(model, "layered", rate):
                check(where, lay, nearest_tbt(of_kind(model, "chunked", rate), lay.get("tbt_p99")))


if __name__ == "__main__":
    main()
