#!/usr/bin/env python3
"""GQA Lab's CUDA attention next to PyTorch's scaled_dot_product_attention, same GPU, same run.

1. Correctness: random q, k, v saved as .npy -> `gqa-lab-cli attention --backend cuda --probs --kv-dtype X`
   -> compared with an independent float64 reference (explicit bottom-right causal mask) computed by torch on
   the GPU, probabilities included. `--kv-dtype` stores K/V as fp32, fp16 or bf16 before the op (the reference
   reads the same rounded values), so fp32 reaches the split-K path and fp16/bf16 reach the tensor-core kernel
   (D 64/128, Tq > 4) or the 16-bit split-K path (decode, Tq <= 4, D = 96); Q and the output stay fp32.
2. Timing: `gqa-lab-cli bench --backend cuda --json --dtype X` times our kernels (median of CUDA-event
   timings, L2 flushed between iterations, kernel only). The same shapes are timed here for SDPA with
   enable_gqa=True on every SDPA backend that accepts them, with the same method, and the fastest is the
   peer. Differences to keep in mind: our Q and output are fp32 (SDPA's are bf16/fp16); K/V are the same
   dtype and size for both.

Writes bench_vs_torch.json and bench_vs_torch.md into --out. Exit status 1 when a correctness case fails.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError as e:  # pragma: no cover
    sys.exit(f"bench_vs_torch.py needs numpy and PyTorch with CUDA: {e}")

# (B, Hq, Hkv, Tq, Tk, D, causal): decode with many chunks, MQA, MHA prefill, a chunked prefill,
# Tk < Tq (rows that see no key), a head_dim and group size without specialised kernels.
CORRECTNESS_CASES = [
    (1, 32, 8, 1, 4096, 128, True),
    (2, 16, 1, 1, 777, 64, False),
    (1, 8, 8, 64, 64, 64, True),
    (1, 16, 2, 40, 300, 128, True),
    (1, 4, 2, 30, 20, 64, True),
    (1, 12, 4, 17, 17, 96, True),
    (2, 8, 2, 3, 129, 64, True),
]
ATOL, RTOL = 1e-4, 1e-3        # fp32 path: |ours - ref| <= atol + rtol |ref|, as `verify` uses for CUDA fp32
PROB_ATOL = 1e-5
# 16-bit K/V (`attention --kv-dtype`) reach the tensor-core kernels, which round Q and P to 16 bits:
# the tolerances `verify` states for CUDA fp16/bf16 attention. The reference uses the same rounded K/V.
KV16_TOL = {"fp16": (3e-3, 1e-2, 2e-3), "bf16": (2e-2, 3e-2, 1e-2)}  # atol, rtol, probs atol


def round_kv(x, dtype):
    if dtype == "fp16":
        return x.astype(np.float16).astype(np.float32)
    u = x.view(np.uint32).astype(np.uint64)  # bf16, round to nearest even
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def reference(q, k, v, causal):
    """float64 attention on the GPU: q (B, Hq, Tq, D), k/v (B, Hkv, Tk, D) -> out, probs."""
    qd, kd, vd = (torch.from_numpy(x).to("cuda", torch.float64) for x in (q, k, v))
    g = qd.shape[1] // kd.shape[1]
    kd, vd = kd.repeat_interleave(g, dim=1), vd.repeat_interleave(g, dim=1)  # head h reads KV head h // g
    tq, tk, d = qd.shape[2], kd.shape[2], qd.shape[3]
    s = qd @ kd.transpose(-1, -2) / math.sqrt(d)
    if causal:
        i = torch.arange(tq, device="cuda")[:, None]
        j = torch.arange(tk, device="cuda")[None, :]
        s = s.masked_fill(~(j <= i + tk - tq), float("-inf"))
    p = torch.nan_to_num(torch.softmax(s, dim=-1), nan=0.0)  # a row that sees no key: all zeros
    return (p @ vd).cpu().numpy(), p.cpu().numpy()


def check_correctness(cli, workdir):
    rng = np.random.default_rng(1234)
    rows, ok = [], True
    for (b, hq, hkv, tq, tk, d, causal), kv_dtype in [(c, t) for t in ("fp32", "fp16", "bf16") for c in CORRECTNESS_CASES]:
        q = rng.standard_normal((b, hq, tq, d), dtype=np.float32)
        k = rng.standard_normal((b, hkv, tk, d), dtype=np.float32)
        v = rng.standard_normal((b, hkv, tk, d), dtype=np.float32)
        atol, rtol, prob_atol = (ATOL, RTOL, PROB_ATOL) if kv_dtype == "fp32" else KV16_TOL[kv_dtype]
        if kv_dtype != "fp32":
            k, v = round_kv(k, kv_dtype), round_kv(v, kv_dtype)
        paths = {n: os.path.join(workdir, f"{n}.npy") for n in ("q", "k", "v", "out", "probs")}
        for n, x in (("q", q), ("k", k), ("v", v)):
            np.save(paths[n], x)
        cmd = [cli, "attention", "--backend", "cuda", "--q", paths["q"], "--k", paths["k"], "--v", paths["v"],
               "--out", paths["out"], "--probs", paths["probs"], "--kv-dtype", kv_dtype] + (["--causal"] if causal else [])
        shape = f"B{b} {hq}/{hkv} Tq{tq} Tk{tk} D{d}{' causal' if causal else ''} {kv_dtype}"
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            rows.append({"shape": shape, "pass": False, "note": r.stderr.strip()[-300:]})
            ok = False
            continue
        out, probs = np.load(paths["out"]), np.load(paths["probs"])
        ref_out, ref_p = reference(q, k, v, causal)
        err = np.abs(out.astype(np.float64) - ref_out)
        ratio = float(np.max(err / (atol + rtol * np.abs(ref_out))))
        perr = float(np.max(np.abs(probs.astype(np.float64) - ref_p)))
        seen = ref_p.sum(-1) > 0
        row_sum_err = float(np.max(np.abs(probs.sum(-1, dtype=np.float64)[seen] - 1.0))) if seen.any() else 0.0
        passed = bool(np.isfinite(out).all() and ratio <= 1.0 and perr <= prob_atol and row_sum_err <= 1e-5)
        ok &= passed
        rows.append({"shape": shape, "max_abs_err": float(err.max()), "err_over_tol": ratio, "probs_max_abs_err": perr,
                     "probs_row_sum_err": row_sum_err, "pass": passed})
    return rows, ok


def sdpa_variants():
    return [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION)]


def time_sdpa(row, dtype, iterations, flush):
    b, hq, hkv, tq, tk, d = (row[x] for x in ("batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim"))
    causal = row["phase"] != "decode"  # our bench: causal prefill with Tq == Tk; decode is Tq = 1 (mask-free)
    gen = torch.Generator(device="cuda").manual_seed(7)
    q = torch.rand((b, hq, tq, d), device="cuda", dtype=dtype, generator=gen) * 2 - 1
    k = torch.rand((b, hkv, tk, d), device="cuda", dtype=dtype, generator=gen) * 2 - 1
    v = torch.rand((b, hkv, tk, d), device="cuda", dtype=dtype, generator=gen) * 2 - 1
    assert not causal or tq == tk, "is_causal is top-left aligned: only equal lengths compare with ours"
    results = {}
    for name, backend in sdpa_variants():
        try:
            with sdpa_kernel([backend]):
                def call():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
                for _ in range(3):
                    call()
                torch.cuda.synchronize()
                events = []
                for i in range(iterations):
                    flush.fill_(i & 0xFF)  # same L2 flush as our timeAttention, outside the timed region
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    call()
                    e.record()
                    events.append((s, e))
                torch.cuda.synchronize()
                results[name] = statistics.median(s.elapsed_time(e) for s, e in events)
        except RuntimeError as ex:  # this backend does not take the shape / dtype / GQA
            results[name] = None
            results[name + "_error"] = str(ex).splitlines()[0][:160]
    return results


def run_bench(cli, dtype_name, iterations, quick):
    cmd = [cli, "bench", "--backend", "cuda", "--json", "--dtype", dtype_name, "--iterations", str(iterations)]
    if quick:
        cmd.append("--quick")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default="build-gpu/bin/gqa-lab-cli", help="path to gqa-lab-cli")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-results"), help="folder for the results")
    ap.add_argument("--dtypes", default="bf16,fp16", help="K/V dtypes to time (comma separated)")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="smaller contexts (passed to gqa-lab-cli bench)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("PyTorch sees no CUDA device")
    os.makedirs(args.out, exist_ok=True)
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "correctness": [], "timing": []}

    with tempfile.TemporaryDirectory() as wd:
        rows, ok = check_correctness(args.cli, wd)
    report["correctness"] = rows

    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    flush = torch.empty(max(2 * l2, 8 << 20), dtype=torch.uint8, device="cuda")
    torch_dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    bench_error = None
    for name in [x.strip() for x in args.dtypes.split(",") if x.strip()]:
        try:
            ours = run_bench(args.cli, name, args.iterations, args.quick)
        except RuntimeError as ex:
            bench_error = str(ex)
            break
        for row in ours.get("attention", []):
            t = time_sdpa(row, torch_dtypes[name], args.iterations, flush)
            best = min(((k, v) for k, v in t.items() if not k.endswith("_error") and v is not None),
                       key=lambda kv: kv[1], default=(None, None))
            report["timing"].append({"dtype": name, **row, "sdpa_ms": t, "sdpa_best": best[0], "sdpa_best_ms": best[1],
                                     "ours_over_sdpa": row["ms"] / best[1] if best[1] else None,
                                     "sdpa_kv_gb_per_s": row["kv_bytes"] / (best[1] * 1e-3) * 1e-9 if best[1] else None})
        report.setdefault("ceilings", {})[name] = ours.get("ceilings")
    if bench_error:
        report["bench_error"] = bench_error

    with open(os.path.join(args.out, "bench_vs_torch.json"), "w") as f:
        json.dump(report, f, indent=2)
    md = [f"# CUDA attention vs PyTorch SDPA on {report['device']} (torch {report['torch']})", "",
          "## Correctness (`gqa-lab-cli attention --kv-dtype fp32/fp16/bf16`, float64 reference)", "",
          "| shape | max abs err | err/tol | probs max abs err | row-sum err | result |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "max_abs_err" in r:
            md.append(f"| {r['shape']} | {r['max_abs_err']:.2e} | {r['err_over_tol']:.3f} | {r['probs_max_abs_err']:.2e} "
                      f"| {r['probs_row_sum_err']:.1e} | {'PASS' if r['pass'] else 'FAIL'} |")
        else:
            md.append(f"| {r['shape']} | | | | | FAIL: {r['note']} |")
    md += ["", "## Timing (median ms of the attention kernels, L2 flushed between iterations)", "",
           "| dtype | phase | B | Hq/Hkv | Tq | Tk | D | ours ms | ours KV GB/s | SDPA best ms | SDPA backend | "
           "ours / SDPA |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["timing"]:
        best = f"{r['sdpa_best_ms']:.3f}" if r["sdpa_best_ms"] else "n/a"
        ratio = f"{r['ours_over_sdpa']:.2f}" if r["ours_over_sdpa"] else "n/a"
        md.append(f"| {r['dtype']} | {r['phase']} | {r['batch']} | {r['q_heads']}/{r['kv_heads']} | {r['q_len']} | "
                  f"{r['kv_len']} | {r['head_dim']} | {r['ms']:.3f} | {r['gb_per_s']:.0f} | {best} | "
                  f"{r['sdpa_best'] or 'none'} | {ratio} |")
    if bench_error:
        md += ["", f"bench failed: {bench_error}"]
    md += ["", "ours / SDPA < 1 means ours is faster. Our Q and output are fp32, SDPA's are 16-bit."]
    with open(os.path.join(args.out, "bench_vs_torch.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if ok and not bench_error else 1


if __name__ == "__main__":
    sys.exit(main())
