#include "gqa/cost_model.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace gqa {

const char* opName(Op op) {
    switch (op) {
        case Op::Norm: return "norm";
        case Op::Qkv: return "qkv";
        case Op::Rope: return "rope";
        case Op::Attention: return "attention";
        case Op::OProj: return "o_proj";
        case Op::Ffn: return "ffn";
        case Op::Count: break;
    }
    return "?";
}

int64_t attentionPairs(int64_t q_len, int64_t kv_len, bool causal, int64_t window) {
    if (!causal) return q_len * kv_len;
    // Query i (0-based) sees keys 0 .. i + kv_len - q_len, the last `window` of them with a sliding window.
    int64_t pairs = 0;
    const int64_t offset = kv_len - q_len;
    for (int64_t i = 0; i < q_len; ++i) {
        const int64_t seen = std::clamp<int64_t>(i + offset + 1, 0, kv_len);
        pairs += window > 0 ? std::min(seen, window) : seen;
    }
    return pairs;
}

int64_t attentionKeysRead(int64_t q_len, int64_t kv_len, int64_t window) {
    return window > 0 ? std::min(kv_len, q_len + window - 1) : kv_len;
}

namespace {
std::array<OpCost, kNumOps> windowOpCosts(const ModelConfig& c, int64_t window, int64_t batch, int64_t q_len,
                                          int64_t kv_len, double wb) {
    const double n = static_cast<double>(batch * q_len);  // new token positions
    const double d = static_cast<double>(c.d_model);
    const double hq = static_cast<double>(c.n_q_heads), hkv = static_cast<double>(c.n_kv_heads);
    const double hd = static_cast<double>(c.head_dim), f = static_cast<double>(c.ffn_dim);
    const double kvb = static_cast<double>(bytesPerElement(c.kv_dtype));
    const double a = 4.0;  // fp32 activations
    std::array<OpCost, kNumOps> out{};
    // Two RMSNorms: square-accumulate and scale (about 4 flops per element), read x and write xn.
    out[int(Op::Norm)] = {2 * 4 * n * d, 2 * (2 * n * d * a + d * wb)};
    const double qkv_cols = (hq + 2 * hkv) * hd;
    out[int(Op::Qkv)] = {2 * n * d * qkv_cols, d * qkv_cols * wb + n * d * a + n * qkv_cols * a};
    // Rotation of each (x_i, x_{i+D/2}) pair: 4 mul/add + cos/sin counted as 2.
    out[int(Op::Rope)] = {3 * n * (hq + hkv) * hd, 2 * n * (hq + hkv) * hd * a};
    // Scores q.k and probs.v: 2 * D flops each per (query head, pair). K/V read once per group.
    // A sliding window bounds both: pairs within the band, and only the keys some query sees are read.
    const double pairs = static_cast<double>(attentionPairs(q_len, kv_len, true, window));
    const double keys = static_cast<double>(attentionKeysRead(q_len, kv_len, window));
    out[int(Op::Attention)] = {4 * static_cast<double>(batch) * hq * hd * pairs,
                               2 * static_cast<double>(batch) * hkv * keys * hd * kvb  // K and V read
                                   + n * hq * hd * a * 2                               // q read, out written
                                   + 2 * n * hkv * hd * kvb};                          // new K/V written
    out[int(Op::OProj)] = {2 * n * hq * hd * d, hq * hd * d * wb + n * hq * hd * a + 2 * n * d * a};
    out[int(Op::Ffn)] = {2 * n * d * 3 * f + 4 * n * f, 3 * d * f * wb + n * d * a * 2 + n * 2 * f * a * 2};
    return out;
}

}  // namespace

std::array<OpCost, kNumOps> layerOpCosts(const ModelConfig& c, int64_t layer, int64_t batch, int64_t q_len,
                                         int64_t kv_len, double wb) {
    return windowOpCosts(c, c.windowOf(layer), batch, q_len, kv_len, wb);
}

ModelOpCosts modelOpCosts(const ModelConfig& c, int64_t layers, int64_t batch, int64_t q_len, int64_t kv_len, double wb,
                          const Ceilings& ceil) {
    ModelOpCosts sum;
    // Layers differ only in their window: one evaluation per distinct window, weighted by its layer count.
    for (const auto& [window, count] : c.windowCounts(layers)) {
        const auto one = windowOpCosts(c, window, batch, q_len, kv_len, wb);
        const auto n = static_cast<double>(count);
        for (size_t k = 0; k < one.size(); ++k) {
            sum.cost[k].flops += one[k].flops * n;
            sum.cost[k].bytes += one[k].bytes * n;
            sum.roofline_ms[k] += rooflineMs(one[k], ceil) * n;
        }
    }
    return sum;
}

double rooflineMs(const OpCost& c, const Ceilings& ceil) {
    const double t_flops = ceil.gemm_flops_per_s > 0 ? c.flops / ceil.gemm_flops_per_s : 0.0;
    const double t_bytes = ceil.mem_bw_bytes_per_s > 0 ? c.bytes / ceil.mem_bw_bytes_per_s : 0.0;
    return 1e3 * std::max(t_flops, t_bytes);
}

}  // namespace gqa
