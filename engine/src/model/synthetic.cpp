// Synthetic weights. In Structured mode every attention head is built to show one pattern that real
// models show (see headRoleDescription), and the query heads of one KV group share their keys.
//
// How: the embedding carries a constant feature (dimension 0) and a BOS flag (dimension 1). Each K head
// maps the constant feature to the same vector kc in every RoPE pair, and the BOS flag to an extra ks in
// the lowest-frequency pair. A query built from the constant feature alone then scores key j from query
// i with a function of i - j only (RoPE makes q·k depend on the relative angle), and that function is
// linear in the query's coefficients: f(Δ) = kc/√D · Σ_p (α_p cos Δθ_p − β_p sin Δθ_p). We choose α, β so
// that the fast pairs peak together at Δ = 1 (previous token) or the middle ones around Δ = 2 (a local
// window), plus a slow pair that fades distant tokens. A sink head puts its whole
// query in the lowest-frequency pair, which barely rotates, so only the BOS bonus ks matters.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>

#include "../rng.h"
#include "gqa/weights.h"

namespace gqa {

namespace {

// One layer as drawn, fp32, y = x W layouts (columns of wqkv: [Q heads | K heads | V heads]); stored into
// the model's (out, in) tensors in the weight dtype once drawn.
struct DrawnLayer {
    std::vector<float> wqkv;       // (d, (Hq + 2 Hkv) D)
    std::vector<float> wo;         // (Hq D, d)
    std::vector<float> w_gate_up;  // (d, 2F) columns [gate | up]
    std::vector<float> w_down;     // (F, d)
};

// Stores columns [c0, c0 + rows) of the (k, ld) fp32 matrix w as a (rows, k) tensor in t's dtype: the
// transpose, rounded (or quantized) to the storage type.
void storeTransposed(const std::vector<float>& w, int64_t k, int64_t ld, int64_t c0, Tensor& t, void* dst) {
    const int64_t rows = t.shape[0];
    std::vector<float> row(static_cast<size_t>(k));
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < k; ++i) row[static_cast<size_t>(i)] = w[static_cast<size_t>(i * ld + c0 + r)];
        storeAs(t.dtype, row.data(), out + r * t.rowBytes(), k);
    }
}

void fillOnes(Model& m, Tensor& t, const std::string& name, int64_t n) {
    const std::vector<float> ones(static_cast<size_t>(n), 1.0f);
    storeAs(m.config.norm_dtype, ones.data(), addOwnedTensor(m, t, name, m.config.norm_dtype, {n}), n);
}

constexpr double kConstFeature = 2.0;  // embedding dimension 0 (after RMSNorm it stays close to this)
constexpr double kBosFeature = 2.0;    // embedding dimension 1, BOS token only
constexpr double kKeyConst = 1.0;      // kc: constant key component per RoPE pair
constexpr double kKeyBos = 4.0;        // ks: BOS bonus in the lowest-frequency pair

// Zero-mean uniform values with the given standard deviation (half-width sqrt(3) * stddev), as in the
// common "Kaiming uniform" initialisation: as well-conditioned as Gaussian weights and ~20x cheaper to draw.
void fillRandom(std::vector<float>& v, size_t n, Rng& rng, double stddev) {
    v.resize(n);
    const double w = 2.0 * std::sqrt(3.0) * stddev;
    for (auto& x : v) x = static_cast<float>((rng.uniform() - 0.5) * w);
}

// Adds a term A cos((Δ - δ) θ_p) to the relative-position logit profile of a query, for each selected
// RoPE pair p. With the key (kc, 0) in every pair, pair p contributes kc/√D (α cos Δθ − β sin Δθ), so the
// term needs α = A cos(δθ) √D / kc and β = −A sin(δθ) √D / kc.
void addPeak(std::vector<double>& q, const std::vector<double>& th, const std::vector<int64_t>& pairs, double amplitude,
             double delta) {
    const int64_t half = static_cast<int64_t>(q.size()) / 2;
    const double s = std::sqrt(static_cast<double>(q.size())) / kKeyConst;
    for (int64_t p : pairs) {
        q[static_cast<size_t>(p)] += amplitude * std::cos(delta * th[static_cast<size_t>(p)]) * s;
        q[static_cast<size_t>(p + half)] += -amplitude * std::sin(delta * th[static_cast<size_t>(p)]) * s;
    }
}

// Query coefficients (half-split layout) of the positional roles. Every RoPE pair but the lowest-frequency
// one (kept for the sink) may be used.
struct PositionalQueries {
    std::vector<double> previous, local;
};

PositionalQueries buildPositionalQueries(const ModelConfig& c) {
    const int64_t D = c.head_dim, half = D / 2;
    std::vector<double> th(static_cast<size_t>(half));
    for (int64_t p = 0; p < half; ++p)
        th[static_cast<size_t>(p)] = std::pow(c.rope_theta, -2.0 * static_cast<double>(p) / static_cast<double>(D));
    auto select = [&](double lo, double hi) {
        std::vector<int64_t> out;
        for (int64_t p = 0; p + 1 < half; ++p)
            if (th[static_cast<size_t>(p)] >= lo && th[static_cast<size_t>(p)] <= hi) out.push_back(p);
        if (out.empty()) out.push_back(0);
        return out;
    };
    // Recency: one slow pair whose cosine falls over the first ~256 positions, so far tokens fade.
    const double span = static_cast<double>(std::min<int64_t>(c.max_seq, 256));
    int64_t slow = 0;
    for (int64_t p = 0; p + 1 < half; ++p)
        if (std::fabs(th[static_cast<size_t>(p)] - 1.5 / span) < std::fabs(th[static_cast<size_t>(slow)] - 1.5 / span))
            slow = p;
    PositionalQueries pq;
    pq.previous.assign(static_cast<size_t>(D), 0.0);
    pq.local.assign(static_cast<size_t>(D), 0.0);
    // Previous token: the fast pairs all peak at Δ = 1, 14 nats above Δ = 0 and Δ = 2.
    const auto fast = select(0.15, 10.0);
    double gap = 0.0;
    for (int64_t p : fast) gap += 1.0 - std::cos(th[static_cast<size_t>(p)]);
    addPeak(pq.previous, th, fast, 14.0 / std::max(gap, 1e-3), 1.0);
    addPeak(pq.previous, th, {slow}, 8.0, 0.0);
    // Local window: middle frequencies peak around Δ = 2, 8 nats above Δ = 12.
    const auto mid = select(0.02, 0.35);
    double near = 0.0, far = 0.0;
    for (int64_t p : mid) {
        near += 1.0;
        far += std::cos(10.0 * th[static_cast<size_t>(p)]);
    }
    addPeak(pq.local, th, mid, 8.0 / std::max(near - far, 1e-3), 2.0);
    addPeak(pq.local, th, {slow}, 8.0, 0.0);
    return pq;
}

HeadRole roleFor(int64_t layer, int64_t q_head, int64_t group_size) {
    static constexpr HeadRole cycle[] = {HeadRole::PreviousToken, HeadRole::Sink, HeadRole::LocalWindow,
                                         HeadRole::Broad, HeadRole::Content};
    const int64_t kv = q_head / group_size, r = q_head % group_size;
    return cycle[static_cast<size_t>((r + layer + kv) % 5)];
}

}  // namespace

Expected<Model> makeSyntheticModel(const ModelConfig& cfg, uint64_t seed, WeightsMode mode, int64_t n_layers,
                                   const std::atomic<bool>* cancel) {
    GQA_TRY(cfg.validate());
    if (n_layers < 0 || n_layers > cfg.n_layers)
        return makeError(ErrorCode::InvalidArgument, "layers to build (" + std::to_string(n_layers) +
                                                         ") must be between 1 and n_layers (" +
                                                         std::to_string(cfg.n_layers) + ")");
    if (cfg.d_model < 4 && mode == WeightsMode::Structured)
        return makeError(ErrorCode::InvalidArgument, "structured weights need d_model >= 4");
    const DType wt = cfg.weight_dtype;
    if ((wt == DType::Q8_0 || cfg.embed_dtype == DType::Q8_0) &&
        (cfg.d_model % kQ8BlockElems != 0 || cfg.ffn_dim % kQ8BlockElems != 0 ||
         (cfg.n_q_heads * cfg.head_dim) % kQ8BlockElems != 0))
        return makeError(ErrorCode::InvalidArgument,
                         "Q8_0 weights need d_model, ffn_dim and n_q_heads x head_dim to be multiples of 32");
    const int64_t L = n_layers == 0 ? cfg.n_layers : n_layers;
    Model m;
    m.config = cfg;
    m.config.n_layers = L;
    m.config.qkv_bias = false;  // synthetic models carry no biases
    m.format = "synthetic";
    m.mode = mode;
    m.seed = seed;
    const int64_t d = cfg.d_model, D = cfg.head_dim, hq = cfg.n_q_heads, hkv = cfg.n_kv_heads, F = cfg.ffn_dim;
    const int64_t V = cfg.vocab_size;
    const int64_t g = cfg.groupSize();
    const int64_t qkv_cols = (hq + 2 * hkv) * D;
    const bool structured = mode == WeightsMode::Structured;
    // Residual branches are scaled by 0.5/sqrt(2L) so the stream's norm stays O(1) through deep stacks.
    const double branch = 0.5 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers));

    try {
        // Embedding (and LM head) rows in parallel chunks, each chunk from its own seed: deterministic.
        auto drawTable = [&](Tensor& t, const char* name, uint64_t stream, double stddev, bool features) {
            auto* dst = static_cast<uint8_t*>(addOwnedTensor(m, t, name, cfg.embed_dtype, {V, d}));
            const int64_t chunk = 256;
#pragma omp parallel for schedule(dynamic, 1) if (V * d > (1 << 20))
            for (int64_t c0 = 0; c0 < V; c0 += chunk) {
                Rng rng(mixSeed(seed, stream + static_cast<uint64_t>(c0 / chunk)));
                std::vector<float> row;
                for (int64_t r = c0; r < std::min(V, c0 + chunk); ++r) {
                    fillRandom(row, static_cast<size_t>(d), rng, stddev);
                    if (features) {
                        row[0] = static_cast<float>(kConstFeature);
                        row[1] = r == 0 ? static_cast<float>(kBosFeature) : 0.0f;
                    }
                    storeAs(cfg.embed_dtype, row.data(), dst + r * t.rowBytes(), d);
                }
            }
        };
        drawTable(m.embedding, "model.embed_tokens.weight", 0xE11B0000ull, 1.0, structured);
        if (!cfg.tied_embeddings)
            drawTable(m.lm_head, "lm_head.weight", 0x4EAD0000ull, 1.0 / std::sqrt(static_cast<double>(d)), false);
        fillOnes(m, m.final_norm, "model.norm.weight", d);

        // Positional query profiles, shared by every layer (they depend only on head_dim and rope_theta).
        PositionalQueries pq;
        if (structured) pq = buildPositionalQueries(cfg);
        const double sink_q = 8.0 * std::sqrt(static_cast<double>(D)) / kKeyBos;

        m.layers.resize(static_cast<size_t>(L));
        m.head_roles.resize(static_cast<size_t>(L));
        // Tensors are allocated up front (storage is shared by the whole model), filled in parallel below.
        for (int64_t l = 0; l < L; ++l) {
            auto& t = m.layers[static_cast<size_t>(l)];
            const std::string p = "model.layers." + std::to_string(l) + ".";
            fillOnes(m, t.attn_norm, p + "input_layernorm.weight", d);
            fillOnes(m, t.ffn_norm, p + "post_attention_layernorm.weight", d);
            addOwnedTensor(m, t.wq, p + "self_attn.q_proj.weight", wt, {hq * D, d});
            addOwnedTensor(m, t.wk, p + "self_attn.k_proj.weight", wt, {hkv * D, d});
            addOwnedTensor(m, t.wv, p + "self_attn.v_proj.weight", wt, {hkv * D, d});
            addOwnedTensor(m, t.wo, p + "self_attn.o_proj.weight", wt, {d, hq * D});
            addOwnedTensor(m, t.w_gate, p + "mlp.gate_proj.weight", wt, {F, d});
            addOwnedTensor(m, t.w_up, p + "mlp.up_proj.weight", wt, {F, d});
            addOwnedTensor(m, t.w_down, p + "mlp.down_proj.weight", wt, {d, F});
        }
        std::atomic<bool> failed{false};
        // Layers are independent (each has its own seed), so they are drawn in parallel; deterministic.
#pragma omp parallel for schedule(dynamic, 1) if (L > 1 && d * qkv_cols > (1 << 16))
        for (int64_t l = 0; l < L; ++l) {
            if (failed.load() || (cancel && cancel->load(std::memory_order_relaxed))) continue;
            try {
                DrawnLayer lw;
                Rng rng(mixSeed(seed, 0x1000 + static_cast<uint64_t>(l)));
                const double inv_sqrt_d = 1.0 / std::sqrt(static_cast<double>(d));
                fillRandom(lw.wqkv, static_cast<size_t>(d * qkv_cols), rng, inv_sqrt_d);
                fillRandom(lw.wo, static_cast<size_t>(hq * D * d), rng,
                           branch / std::sqrt(static_cast<double>(hq * D)));
                fillRandom(lw.w_gate_up, static_cast<size_t>(d * 2 * F), rng, inv_sqrt_d);
                fillRandom(lw.w_down, static_cast<size_t>(F * d), rng,
                           2.0 * branch / std::sqrt(static_cast<double>(F)));
                auto& roles = m.head_roles[static_cast<size_t>(l)];
                roles.assign(static_cast<size_t>(hq), HeadRole::Content);
                if (structured) {
                    auto at = [&](int64_t row, int64_t col) -> float& {
                        return lw.wqkv[static_cast<size_t>(row * qkv_cols + col)];
                    };
                    // Keys: constant kc in the first element of every pair, BOS bonus in the lowest pair, and a
                    // little content so the maps are not perfectly clean.
                    for (int64_t kv = 0; kv < hkv; ++kv) {
                        const int64_t base = (hq + kv) * D;
                        for (int64_t r = 0; r < d; ++r)
                            for (int64_t e = 0; e < D; ++e) at(r, base + e) *= 0.02f;
                        for (int64_t e = 0; e < D; ++e) {
                            at(0, base + e) = e < D / 2 ? static_cast<float>(kKeyConst / kConstFeature) : 0.0f;
                            at(1, base + e) = e == D / 2 - 1 ? static_cast<float>(kKeyBos / kBosFeature) : 0.0f;
                        }
                    }
                    for (int64_t h = 0; h < hq; ++h) {
                        const HeadRole role = roleFor(l, h, g);
                        roles[static_cast<size_t>(h)] = role;
                        const int64_t base = h * D;
                        if (role == HeadRole::Content) {
                            for (int64_t r = 0; r < d; ++r)
                                for (int64_t e = 0; e < D; ++e) at(r, base + e) *= 3.0f;
                            continue;
                        }
                        for (int64_t r = 0; r < d; ++r)
                            for (int64_t e = 0; e < D; ++e) at(r, base + e) *= 0.2f;
                        std::vector<double> q(static_cast<size_t>(D), 0.0);
                        if (role == HeadRole::PreviousToken) q = pq.previous;
                        if (role == HeadRole::LocalWindow) q = pq.local;
                        if (role == HeadRole::Sink) q[static_cast<size_t>(D / 2 - 1)] = sink_q;
                        for (int64_t e = 0; e < D; ++e) {
                            at(0, base + e) = static_cast<float>(q[static_cast<size_t>(e)] / kConstFeature);
                            at(1, base + e) = 0.0f;
                        }
                    }
                }
                // Into the model's (out, in) tensors, rounded or quantized to the weight dtype.
                auto& t = m.layers[static_cast<size_t>(l)];
                auto dst = [](Tensor& x) { return const_cast<void*>(x.data); };
                storeTransposed(lw.wqkv, d, qkv_cols, 0, t.wq, dst(t.wq));
                storeTransposed(lw.wqkv, d, qkv_cols, hq * D, t.wk, dst(t.wk));
                storeTransposed(lw.wqkv, d, qkv_cols, (hq + hkv) * D, t.wv, dst(t.wv));
                storeTransposed(lw.wo, hq * D, d, 0, t.wo, dst(t.wo));
                storeTransposed(lw.w_gate_up, d, 2 * F, 0, t.w_gate, dst(t.w_gate));
                storeTransposed(lw.w_gate_up, d, 2 * F, F, t.w_up, dst(t.w_up));
                storeTransposed(lw.w_down, F, d, 0, t.w_down, dst(t.w_down));
            } catch (const std::bad_alloc&) {
                failed = true;
            }
        }
        if (failed) return makeError(ErrorCode::OutOfMemory, "not enough host memory for the synthetic weights");
        if (cancel && cancel->load()) return makeError(ErrorCode::Cancelled, "cancelled while building weights");
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, "not enough host memory for the synthetic weights");
    }
    return m;
}

std::vector<int32_t> makeTokens(int64_t batch, int64_t len, int64_t vocab_rows, uint64_t seed, int64_t offset) {
    std::vector<int32_t> t(static_cast<size_t>(batch * len));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < len; ++i) {
            const int64_t pos = offset + i;
            int32_t id = 0;
            if (pos > 0) {
                uint64_t s = mixSeed(mixSeed(seed, static_cast<uint64_t>(b)), static_cast<uint64_t>(pos));
                id = static_cast<int32_t>(1 +
                                          splitmix64(s) % static_cast<uint64_t>(std::max<int64_t>(vocab_rows - 1, 1)));
                if (vocab_rows <= 1) id = 0;
            }
            t[static_cast<size_t>(b * len + i)] = id;
        }
    return t;
}

}  // namespace gqa
