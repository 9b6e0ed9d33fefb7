// Kernel-level attention inputs shared by the engine suites: random q and K/V (rounded to the cache dtype, with
// their 16-bit encoding) and contiguous cpu::AttnParams over them.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu_kernels.h"
#include "gqa/backend.h"
#include "gqa/dtype.h"
#include "test_util.h"

namespace gqa::test {

struct KernelInputs {
    std::vector<float> q, kf, vf;    // q: (B, Hq, Tq, D); kf, vf: (B, Hkv, Tk, D) holding the values as stored
    std::vector<uint16_t> k16, v16;  // K/V encoded when the dtype is 16-bit
    std::vector<float> out;          // (B, Hq, Tq, D), NaN until the kernel writes it
    cpu::AttnParams p;               // contiguous views over the above, causal and window as in the shape
};

// q, k, v drawn with seeds seed, seed + 1, seed + 2.
inline KernelInputs kernelInputs(const AttentionShape& s, DType t, uint32_t seed) {
    KernelInputs in;
    const int64_t D = s.head_dim;
    in.q = randomVector(size_t(s.batch * s.n_q_heads * s.q_len * D), seed);
    in.kf = randomVector(size_t(s.batch * s.n_kv_heads * s.kv_len * D), seed + 1);
    in.vf = randomVector(size_t(s.batch * s.n_kv_heads * s.kv_len * D), seed + 2);
    in.k16.resize(in.kf.size());
    in.v16.resize(in.vf.size());
    for (size_t i = 0; i < in.kf.size(); ++i) {
        in.kf[i] = roundTo(t, in.kf[i]);
        in.vf[i] = roundTo(t, in.vf[i]);
        in.k16[i] = t == DType::BF16 ? floatToBf16(in.kf[i]) : floatToF16(in.kf[i]);
        in.v16[i] = t == DType::BF16 ? floatToBf16(in.vf[i]) : floatToF16(in.vf[i]);
    }
    in.out.assign(in.q.size(), NAN);
    cpu::AttnParams& p = in.p;
    p.q = in.q.data();
    p.q_si = D;
    p.q_sh = s.q_len * D;
    p.q_sb = s.n_q_heads * p.q_sh;
    p.k = t == DType::F32 ? static_cast<const void*>(in.kf.data()) : in.k16.data();
    p.v = t == DType::F32 ? static_cast<const void*>(in.vf.data()) : in.v16.data();
    p.kv_si = D;
    p.kv_sh = s.kv_len * D;
    p.kv_sb = s.n_kv_heads * p.kv_sh;
    p.kv_dtype = t;
    p.out = in.out.data();
    p.o_si = p.q_si;
    p.o_sh = p.q_sh;
    p.o_sb = p.q_sb;
    p.batch = s.batch;
    p.n_q_heads = s.n_q_heads;
    p.n_kv_heads = s.n_kv_heads;
    p.q_len = s.q_len;
    p.kv_len = s.kv_len;
    p.head_dim = D;
    p.causal = s.causal;
    p.window = s.window;
    return in;
}

}  // namespace gqa::test
