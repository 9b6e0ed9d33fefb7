#!/usr/bin/env python3
"""summary.md of one run_gpu_checks.sh call, from the logs it left in --logs (standard library only).

Steps with bound, time and verdict; the device; verify (passed/failed, worst err/tol per dtype and family, every
failing row); the real-model table; each sanitizer's summary line and the kernels it names, split into ours
(the __global__ functions in engine/cuda) and not ours (cuBLAS and other libraries); the bench tables.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(path, limit=None):
    try:
        with open(path, errors="replace") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError:
        return None


def our_kernels():
    names = set()
    cuda = os.path.join(ROOT, "engine", "cuda")
    for fn in sorted(os.listdir(cuda)) if os.path.isdir(cuda) else []:
        if fn.endswith(".cu"):
            src = read(os.path.join(cuda, fn)) or ""
            names.update(re.findall(r"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(", src))
    return names


def steps_table(logs):
    rows = [l.split("\t") for l in (read(os.path.join(logs, "steps.tsv")) or "").splitlines()[1:] if l.strip()]
    md = ["| step | bound s | took s | result |", "|---|---|---|---|"]
    md += [f"| {r[0]} | {r[1]} | {r[2]} | {r[4]} |" for r in rows if len(r) >= 5]
    return md


def ratio(c):
    r = c.get("worst_err_over_tol")
    return float("inf") if r is None else r  # JSON has no inf: a non-finite output arrives as null


def verify_section(logs):
    text = read(os.path.join(logs, "verify.json"))
    if not text:
        return ["verify: no verify.json (the step did not run or failed before printing)"]
    try:
        j = json.loads(text[text.index("{"):])
    except (ValueError, json.JSONDecodeError) as e:
        return [f"verify: verify.json unreadable ({e}); first bytes: {text[:300]!r}"]
    cases = j.get("cases", [])
    md = [f"verify --backend cuda: **{j.get('passed')} passed, {j.get('failed')} failed** of {len(cases)}", "",
          "| dtype | family | rows | failed | worst err/tol | worst row |", "|---|---|---|---|---|---|"]
    groups = {}
    for c in cases:
        test = c["test"]
        fam = "model" if test.startswith("model") else "kv cache + maps" if test.startswith("kv") else \
            "attention g=3/6" if ("g=3" in test or "g=6" in test) else \
            "attention ragged / Tq>Tk / Tq 3" if any(s in test for s in ("ragged", "Tq > Tk", "short Tq")) else "attention"
        groups.setdefault((c["dtype"], fam), []).append(c)
    for (dt, fam), cs in sorted(groups.items()):
        worst = max(cs, key=ratio)
        md.append(f"| {dt} | {fam} | {len(cs)} | {sum(not c['pass'] for c in cs)} | {ratio(worst):.3g} "
                  f"| {worst['test']} {worst['shape']} |")
    bad = [c for c in cases if not c["pass"]]
    if bad:
        md += ["", "Failing rows:", "", "| test | shape | dtype | max abs err | err/tol | note |", "|---|---|---|---|---|---|"]
        md += [f"| {c['test']} | {c['shape']} | {c['dtype']} | {c['max_abs_err']:.2e} | {ratio(c):.3g} "
               f"| {c['note'][:160]} |" for c in bad[:40]]
        if len(bad) > 40:
            md.append(f"| ... {len(bad) - 40} more in verify.json | | | | | |")
    return md


def sanitizer_section(logs, ours):
    md = ["| tool | summary | kernels reported (ours) | kernels reported (not ours: cuBLAS / libraries) |",
          "|---|---|---|---|"]
    for tool in ("memcheck", "racecheck", "synccheck"):
        text = read(os.path.join(logs, f"{tool}.log"))
        if text is None:
            md.append(f"| {tool} | did not run | | |")
            continue
        summary = [l.strip("= ").strip() for l in text.splitlines() if re.search(r"(ERROR|RACECHECK|LEAK) SUMMARY", l)]
        counts = {}
        # Device frames, in either format compute-sanitizer prints:
        #   "=========     at prefillTcKernel<...>(TcParams)+0x1a0 in /path/attention_prefill.cu:123"
        #   "========= Error: Race reported between Write access at 0x1a0 in /path/x.cu:12:splitCombineKernel(...)"
        frame = re.compile(r"\bat (?:0x[0-9a-f]+ in \S*?:\d+:)?(?:void |static )?([A-Za-z_][\w:]*)")
        for line in text.splitlines():
            if not line.startswith("=") or "Host Frame" in line or "backtrace" in line:
                continue
            m = frame.search(line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        mine = {k: v for k, v in counts.items() if any(o in k for o in ours)}
        other = {k: v for k, v in counts.items() if k not in mine}
        if not summary:
            tail = [l for l in text.strip().splitlines() if l.strip()][-1:] or ["(empty log)"]
            summary = [f"no summary line; last: {tail[0][:160]}"]
        fmt = lambda d: ", ".join(f"{k} ×{v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:8]) or "none"
        md.append(f"| {tool} | {'; '.join(summary)} | {fmt(mine)} | {fmt(other)} |")
    return md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logs", required=True)
    ap.add_argument("--total-s", type=int, default=0)
    a = ap.parse_args()
    pre = read(os.path.join(a.logs, "preflight.log")) or ""
    gpu = next((l[5:] for l in pre.splitlines() if l.startswith("gpu: ")), "unknown (no preflight output)")
    md = ["# GPU checks of the CUDA backend", "", f"Device: {gpu}  ", f"Wall time of the steps: {a.total_s} s", ""]
    md += steps_table(a.logs) + [""]
    md += ["## verify", ""] + verify_section(a.logs) + [""]
    rm = read(os.path.join(a.logs, "real_model.md"))
    md += (rm.splitlines() if rm else ["## Real model", "", "no real_model.md (the step did not finish)"]) + [""]
    md += ["## compute-sanitizer (one small run each)", ""] + sanitizer_section(a.logs, our_kernels()) + [""]
    bench = read(os.path.join(a.logs, "bench_vs_torch.md"))
    md += bench.splitlines() if bench else ["## bench", "", "no bench_vs_torch.md (the step did not finish)"]
    md += ["", "Full logs: gpu-checks.tar.gz (every step's log, verify.json, real_model.json, bench_vs_torch.json)."]
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
