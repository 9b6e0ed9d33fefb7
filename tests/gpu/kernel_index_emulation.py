#!/usr/bin/env python3
"""Lane-level NumPy model of the CUDA attention kernels' index math, runnable without a GPU.

It follows engine/cuda/attention_prefill.cu (prefillTcKernel) and attention_decode.cu (planSplit,
splitAttentionKernel, splitCombineKernel) step by step: packed (query, head-in-group) rows, causal bottom-right
limits, tile and chunk ranges, the online softmax, the mma.sync m16n8k16 fragment ownership and the
ldmatrix.x4.trans addressing as the PTX ISA defines them. Outputs are compared with a float64 reference on
random shapes (g = 1..16, D = 48/64/128, Tk > Tq, Tk < Tq, several chunks), and the split-K scratch bound the
model allocates (attentionWorkspaceBoundFloats) is checked against planSplit on random shapes.

What it cannot show: that the hardware matches the PTX documentation as read here, races, alignment faults,
or speed. Those need tests/gpu/run_gpu_checks.sh on a GPU. Keep it in step with the kernels when they change.
Needs numpy (Debian: python3-numpy). Exit status 1 on any mismatch.
"""
import math, itertools, sys
import numpy as np

f32 = np.float32
LOG2E = 1.4426950408889634

def bf16(x):
    x = np.ascontiguousarray(np.asarray(x, np.float32))
    u = x.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) << 16
    return (u & 0xffffffff).astype(np.uint32).view(np.float32)

def ref_attention(q, k, v, causal):
    B, Hq, Tq, D = q.shape; Hkv, Tk = k.shape[1], k.shape[2]; g = Hq // Hkv
    out = np.zeros((B, Hq, Tq, D))
    for b in range(B):
        for h in range(Hq):
            kk = k[b, h // g].astype(np.float64); vv = v[b, h // g].astype(np.float64)
            s = q[b, h].astype(np.float64) @ kk.T / math.sqrt(D)
            if causal:
                i = np.arange(Tq)[:, None]; j = np.arange(Tk)[None, :]
                s = np.where(j <= i + Tk - Tq, s, -np.inf)
            for i in range(Tq):
                if np.all(np.isinf(s[i])): continue
                p = np.exp(s[i] - s[i].max()); out[b, h, i] = (p / p.sum()) @ vv
    return out

# ---- warp primitives -----------------------------------------------------------------------------------------
lanes = np.arange(32); GRP = lanes >> 2; TIG = lanes & 3

def mma(d, a, bfr):
    # d: (32,4); a: (32,4,2) pairs [a0..a3]; bfr: (32,2,2) pairs [b0,b1]
    A = np.zeros((16, 16), f32); Bm = np.zeros((16, 8), f32)
    for L in range(32):
        g, t = GRP[L], TIG[L]
        for j in range(2):
            A[g, 2*t+j] = a[L, 0, j]; A[g+8, 2*t+j] = a[L, 1, j]
            A[g, 2*t+8+j] = a[L, 2, j]; A[g+8, 2*t+8+j] = a[L, 3, j]
            Bm[2*t+j, g] = bfr[L, 0, j]; Bm[2*t+8+j, g] = bfr[L, 1, j]
    C = (A.astype(np.float64) @ Bm.astype(np.float64))
    out = d.copy()
    for L in range(32):
        g, t = GRP[L], TIG[L]
        for j in range(2):
            out[L, j] += f32(C[g, 2*t+j]); out[L, 2+j] += f32(C[g+8, 2*t+j])
    return out

def ldmatrix_x4_trans(smem, addr_rows, addr_cols):
    # smem: 2D array; lane L supplies (row, col) of row L%8 of matrix L//8. Returns (32,4,2).
    M = np.zeros((4, 8, 8), f32)
    for L in range(32):
        mi, r = L >> 3, L & 7
        M[mi, r, :] = smem[addr_rows[L], addr_cols[L]:addr_cols[L]+8]
    res = np.zeros((32, 4, 2), f32)
    for L in range(32):
        for mi in range(4):
            res[L, mi, 0] = M[mi, 2*TIG[L], GRP[L]]; res[L, mi, 1] = M[mi, 2*TIG[L]+1, GRP[L]]
    return res

def shfl_xor(x, m):
    return x[lanes ^ m]

# ---- prefillTcKernel -------------------------------------------------------------------------------------------
def tc_kernel(q, k, v, causal, rnd):
    B, Hq, Tq, D = q.shape; Hkv, Tk = k.shape[1], k.shape[2]; G = Hq // Hkv
    kTcRows = kTcKeys = 64; LD = D + 8; KS = D // 16; NT = 8; DT = D // 8
    rows_total = Tq * G; gx = (rows_total + 63) // 64
    out = np.full(q.shape, np.nan, f32)
    offset = Tk - Tq; sl2 = f32(LOG2E / math.sqrt(D))
    for b, kvh, bx in itertools.product(range(B), range(Hkv), range(gx)):
        tile = gx - 1 - bx; p0 = tile * kTcRows
        t_last = min(Tq - 1, (p0 + kTcRows - 1) // G)
        kv_end = min(Tk, t_last + offset + 1) if causal else Tk
        n_tiles = (kv_end + 63) // 64 if kv_end > 0 else 0
        Qs = np.zeros((kTcRows, LD), f32)
        for r in range(kTcRows):
            prow = p0 + r
            if prow < rows_total:
                t, h = prow // G, kvh * G + prow % G
                Qs[r, :D] = rnd(q[b, h, t])
        tiles_k = []; tiles_v = []
        for kt in range(n_tiles):
            Ks = np.full((kTcKeys, LD), np.nan, f32); Vs = np.full((kTcKeys, LD), np.nan, f32)
            for r in range(kTcKeys):
                key = kt * 64 + r
                Ks[r, :D] = k[b, kvh, key] if key < kv_end else 0
                Vs[r, :D] = v[b, kvh, key] if key < kv_end else 0
            tiles_k.append(Ks); tiles_v.append(Vs)
        for warp in range(4):
            r0 = warp * 16 + GRP
            qf = np.zeros((KS, 32, 4, 2), f32)
            for s in range(KS):
                c = s * 16 + 2 * TIG
                for j in range(2):
                    qf[s, :, 0, j] = Qs[r0, c + j]; qf[s, :, 1, j] = Qs[r0 + 8, c + j]
                    qf[s, :, 2, j] = Qs[r0, c + 8 + j]; qf[s, :, 3, j] = Qs[r0 + 8, c + 8 + j]
            prow0 = p0 + r0; prow1 = prow0 + 8
            lim0 = np.minimum(prow0 // G + offset if causal else Tk - 1, kv_end - 1)
            lim1 = np.minimum(prow1 // G + offset if causal else Tk - 1, kv_end - 1)
            o = np.zeros((DT, 32, 4), f32)
            m0 = np.full(32, -np.inf, f32); m1 = m0.copy(); l0 = np.zeros(32, f32); l1 = l0.copy()
            for kt in range(n_tiles):
                Ks, Vs = tiles_k[kt], tiles_v[kt]
                s_ = np.zeros((NT, 32, 4), f32)
                for st in range(KS):
                    for n in range(NT):
                        rowsK = n * 8 + GRP; col = st * 16 + 2 * TIG
                        bfr = np.zeros((32, 2, 2), f32)
                        for j in range(2):
                            bfr[:, 0, j] = Ks[rowsK, col + j]; bfr[:, 1, j] = Ks[rowsK, col + 8 + j]
                        s_[n] = mma(s_[n], qf[st], bfr)
                key0 = kt * 64
                for n in range(NT):
                    for c in range(4):
                        key = key0 + n * 8 + 2 * TIG + (c & 1)
                        lim = lim0 if c < 2 else lim1
                        s_[n, :, c] = np.where(key > lim, -np.inf, s_[n, :, c])
                mx0 = np.max(np.maximum(s_[:, :, 0], s_[:, :, 1]), axis=0)
                mx1 = np.max(np.maximum(s_[:, :, 2], s_[:, :, 3]), axis=0)
                for msk in (1, 2):
                    mx0 = np.maximum(mx0, shfl_xor(mx0, msk)); mx1 = np.maximum(mx1, shfl_xor(mx1, msk))
                with np.errstate(invalid='ignore'):
                    mn0 = np.maximum(m0, mx0 * sl2); mn1 = np.maximum(m1, mx1 * sl2)
                mu0 = np.where(mn0 == -np.inf, f32(0), mn0); mu1 = np.where(mn1 == -np.inf, f32(0), mn1)
                al0 = np.exp2(m0 - mu0); al1 = np.exp2(m1 - mu1)
                m0, m1 = mn0, mn1
                s_[:, :, 0] = np.exp2(s_[:, :, 0] * sl2 - mu0); s_[:, :, 1] = np.exp2(s_[:, :, 1] * sl2 - mu0)
                s_[:, :, 2] = np.exp2(s_[:, :, 2] * sl2 - mu1); s_[:, :, 3] = np.exp2(s_[:, :, 3] * sl2 - mu1)
                l0 = l0 * al0 + (s_[:, :, 0] + s_[:, :, 1]).sum(0); l1 = l1 * al1 + (s_[:, :, 2] + s_[:, :, 3]).sum(0)
                o[:, :, 0] *= al0; o[:, :, 1] *= al0; o[:, :, 2] *= al1; o[:, :, 3] *= al1
                for kk in range(4):
                    a = np.zeros((32, 4, 2), f32)
                    a[:, 0, 0], a[:, 0, 1] = rnd(s_[2*kk, :, 0]), rnd(s_[2*kk, :, 1])
                    a[:, 1, 0], a[:, 1, 1] = rnd(s_[2*kk, :, 2]), rnd(s_[2*kk, :, 3])
                    a[:, 2, 0], a[:, 2, 1] = rnd(s_[2*kk+1, :, 0]), rnd(s_[2*kk+1, :, 1])
                    a[:, 3, 0], a[:, 3, 1] = rnd(s_[2*kk+1, :, 2]), rnd(s_[2*kk+1, :, 3])
                    mi = lanes >> 3
                    vrow = kk * 16 + (mi & 1) * 8 + (lanes & 7); vcol = (mi >> 1) * 8
                    for dp in range(D // 16):
                        vf = ldmatrix_x4_trans(Vs, vrow, vcol + dp * 16)
                        o[2*dp] = mma(o[2*dp], a, vf[:, 0:2])
                        o[2*dp+1] = mma(o[2*dp+1], a, vf[:, 2:4])
            for msk in (1, 2):
                l0 = l0 + shfl_xor(l0, msk); l1 = l1 + shfl_xor(l1, msk)
            inv0 = np.where(l0 > 0, 1 / np.where(l0 > 0, l0, 1), 0).astype(f32)
            inv1 = np.where(l1 > 0, 1 / np.where(l1 > 0, l1, 1), 0).astype(f32)
            for L in range(32):
                for prow, inv, cs in ((prow0[L], inv0[L], (0, 1)), (prow1[L], inv1[L], (2, 3))):
                    if prow < rows_total:
                        t, h = prow // G, kvh * G + prow % G
                        for i in range(DT):
                            out[b, h, t, i*8 + 2*TIG[L]] = o[i, L, cs[0]] * inv
                            out[b, h, t, i*8 + 2*TIG[L] + 1] = o[i, L, cs[1]] * inv
    return out

# ---- splitAttentionKernel + splitCombineKernel -------------------------------------------------------------
def tile_keys(d_template, elem):
    return (64 if elem == 2 else 32) if d_template in (64, 128) else (32 if elem == 2 else 16)

def plan_split(B, Hq, Hkv, Tq, Tk, D, num_sms, d_template, elem=4):
    kt = tile_keys(d_template, elem)
    g = Hq // Hkv; rows_total = Tq * g; rb = (rows_total + 15) // 16
    base = B * Hkv * rb; target = max(num_sms, 1) * 2
    want = max(1, (target + base - 1) // base)
    chunk = max(((Tk + want - 1) // want + kt - 1) // kt * kt, 2 * kt)
    chunks = (Tk + chunk - 1) // chunk
    if chunks > 1024:
        chunk = ((Tk + 1023) // 1024 + kt - 1) // kt * kt; chunks = (Tk + chunk - 1) // chunk
    return kt, rb, chunk, chunks

def workspace(B, Hq, Hkv, Tq, Tk, D, sms, dt, elem):
    kt, rb, chunk, chunks = plan_split(B, Hq, Hkv, Tq, Tk, D, sms, dt, elem)
    return B * Hkv * Tq * (Hq // Hkv) * chunks * (D + 2) if chunks > 1 else 0

def bound(B, Hq, Hkv, D, max_q, max_kv, sms):
    g = Hq // Hkv; target = max(sms, 1) * 2; min_chunk = 2 * 16
    max_chunks = min(1024, (max_kv + min_chunk - 1) // min_chunk); b = 0
    for tq in range(1, max_q + 1):
        rows = tq * g; base = B * Hkv * ((rows + 15) // 16)
        want = max(1, (target + base - 1) // base); chunks = min(want, max_chunks)
        if chunks <= 1: break
        b = max(b, B * Hkv * rows * chunks * (D + 2))
    return b

def split_kernel(q, k, v, causal, num_sms, d_template):
    B, Hq, Tq, D = q.shape; Hkv, Tk = k.shape[1], k.shape[2]; G = Hq // Hkv
    KT, rbs, chunk_len, C = plan_split(B, Hq, Hkv, Tq, Tk, D, num_sms, d_template)
    rows_total = Tq * G; offset = Tk - Tq; sl2 = f32(LOG2E / math.sqrt(D))
    out = np.full(q.shape, np.nan, f32)
    part_o = np.full((B, Hkv, rows_total, C, D), np.nan, f32); part_ml = np.full((B, Hkv, rows_total, C, 2), np.nan, f32)
    for bx, kvh, b in itertools.product(range(C * rbs), range(Hkv), range(B)):
        chunk = bx % C; rb = bx // C; p0 = rb * 16; nrows = min(16, rows_total - p0)
        j_begin = chunk * chunk_len; j_end = min(Tk, j_begin + chunk_len)
        if causal: j_end = min(j_end, (p0 + nrows - 1) // G + offset + 1)
        qs = np.zeros((16, D), f32)
        for r in range(nrows):
            prow = p0 + r; t, h = prow // G, kvh * G + prow % G; qs[r] = q[b, h, t]
        row_m = np.full(16, -np.inf, f32); row_l = np.zeros(16, f32)
        o = np.zeros((16, D), f32)
        for j0 in range(j_begin, j_end, KT):
            n = min(KT, j_end - j0)
            Ks = np.zeros((KT, D), f32); Vs = np.zeros((KT, D), f32)
            Ks[:n] = k[b, kvh, j0:j0+n]; Vs[:n] = v[b, kvh, j0:j0+n]
            ss = np.zeros((16, KT), f32)
            for r in range(nrows):
                t = (p0 + r) // G
                acc = (qs[r].astype(np.float64) @ Ks.T.astype(np.float64)).astype(f32)
                for sj in range(KT):
                    valid = sj < n and (not causal or j0 + sj <= t + offset)
                    ss[r, sj] = acc[sj] * sl2 if valid else -np.inf
            alpha = np.zeros(16, f32)
            for r in range(nrows):
                mx = ss[r].max(); m_old = row_m[r]; m_new = max(m_old, mx)
                m_use = f32(0) if m_new == -np.inf else m_new
                e = np.exp2(ss[r] - m_use); ss[r] = e
                alpha[r] = np.exp2(m_old - m_use); row_l[r] = row_l[r] * alpha[r] + e.sum(); row_m[r] = m_new
            for r in range(nrows):
                o[r] = o[r] * alpha[r] + ss[r, :n] @ Vs[:n]
        for r in range(nrows):
            prow = p0 + r
            if C == 1:
                inv = 1 / row_l[r] if row_l[r] > 0 else 0
                t, h = prow // G, kvh * G + prow % G; out[b, h, t] = o[r] * inv
            else:
                part_o[b, kvh, prow, chunk] = o[r]; part_ml[b, kvh, prow, chunk] = (row_m[r], row_l[r])
    if C > 1:
        flat_o = part_o.reshape(-1, C, D); flat_ml = part_ml.reshape(-1, C, 2)
        for gr in range(flat_o.shape[0]):
            M = flat_ml[gr, :, 0].max()
            w = np.zeros(C, f32) if M == -np.inf else np.exp2(flat_ml[gr, :, 0] - M)
            L = (w * flat_ml[gr, :, 1]).sum(); inv = 1 / L if L > 0 else 0
            prow = gr % rows_total; rest = gr // rows_total; kvh = rest % Hkv; b = rest // Hkv
            t, h = prow // G, kvh * G + prow % G
            out[b, h, t] = (w @ flat_o[gr]) * inv
    return out, C

def check(name, got, ref, atol):
    assert not np.isnan(got).any(), name + ": NaN / unwritten outputs"
    err = np.abs(got - ref).max()
    print(f"{name}: max |err| = {err:.2e} {'OK' if err <= atol else 'FAIL'}")
    return err <= atol

rng = np.random.default_rng(0)
ok = True
cases_tc = [  # B, Hq, Hkv, Tq, Tk, D, causal
    (1, 4, 1, 40, 40, 64, True), (1, 8, 2, 37, 100, 64, True), (2, 2, 2, 70, 70, 64, False),
    (1, 16, 1, 9, 9, 64, True), (1, 3, 1, 20, 150, 128, True), (1, 4, 2, 30, 20, 64, True),
]
for B, Hq, Hkv, Tq, Tk, D, causal in cases_tc:
    q = rng.uniform(-1, 1, (B, Hq, Tq, D)).astype(f32) * 2
    k = bf16(rng.uniform(-1, 1, (B, Hkv, Tk, D)) * 2); v = bf16(rng.uniform(-1, 1, (B, Hkv, Tk, D)))
    ref = ref_attention(bf16(q), k, v, causal)
    ok &= check(f"tc  B{B} Hq{Hq} Hkv{Hkv} Tq{Tq} Tk{Tk} D{D} causal={causal}", tc_kernel(q, k, v, causal, bf16), ref, 2e-2)
cases_split = [  # B, Hq, Hkv, Tq, Tk, D, causal, num_sms, d_template
    (1, 8, 2, 1, 300, 64, True, 132, 64), (2, 4, 4, 1, 77, 64, False, 8, 64), (1, 32, 2, 3, 200, 64, True, 20, 0),
    (1, 4, 1, 50, 50, 48, True, 2, 0), (1, 6, 3, 4, 2, 64, True, 132, 64), (1, 2, 1, 1, 1, 128, True, 132, 128),
]
for B, Hq, Hkv, Tq, Tk, D, causal, sms, dt in cases_split:
    q = rng.uniform(-1, 1, (B, Hq, Tq, D)).astype(f32) * 2
    k = rng.uniform(-1, 1, (B, Hkv, Tk, D)).astype(f32) * 2; v = rng.uniform(-1, 1, (B, Hkv, Tk, D)).astype(f32)
    got, C = split_kernel(q, k, v, causal, sms, dt)
    ok &= check(f"split B{B} Hq{Hq} Hkv{Hkv} Tq{Tq} Tk{Tk} D{D} causal={causal} chunks={C}", got,
                ref_attention(q, k, v, causal), 1e-4)
import random
random.seed(5); viol = 0
for _ in range(4000):
    Hkv = random.choice([1, 2, 4, 8, 16]); g = random.choice([1, 2, 3, 4, 8, 16]); Hq = Hkv * g
    B = random.choice([1, 2, 3, 8, 64]); D = random.choice([32, 64, 96, 128, 256]); sms = random.choice([1, 20, 108, 132])
    max_seq = random.choice([1, 7, 64, 300, 4096, 40000]); elem = random.choice([2, 4])
    dt = D if D in (64, 128) else 0
    max_q = min(4, max_seq) if (elem == 2 and D in (64, 128)) else max_seq
    bd = bound(B, Hq, Hkv, D, max_q, max_seq, sms)
    for Tq in {t for t in (1, 2, max_q, random.randint(1, max_q)) if t <= max_q}:
        Tk = random.randint(Tq, max_seq)
        if workspace(B, Hq, Hkv, Tq, Tk, D, sms, dt, elem) > bd:
            viol += 1
            if viol < 5: print("bound violated", B, Hq, Hkv, D, Tq, Tk, sms, elem)
print("workspace bound violations:", viol); ok &= viol == 0
print("ALL OK" if ok else "FAILURES")
sys.exit(0 if ok else 1)
