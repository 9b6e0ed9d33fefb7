// gqa-lab-cli verify: every available backend against the double-precision reference.
// Pass criterion per element: |x - ref| <= atol + rtol * |ref| (tolerances per backend and dtype, printed).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "../../engine/src/rng.h"
#include "cli_common.h"
#include "gqa/reference.h"
#include "gqa/weights.h"

namespace gqa::cli {
namespace {

struct VerifyArgs {
    std::string backend = "all";
    bool json = false;
};

struct Tol {
    double atol, rtol;
};

// The CPU computes in fp32 from the same stored values as the reference, so its tolerance is fp32
// rounding. The CUDA kernels feed bf16/fp16 tensor cores (probabilities rounded to 16 bits before P·V).
// Where the engine rounds a value to 16-bit storage (the KV cache) that the reference computed in double,
// the two may round to neighbouring values: one storage ulp (bf16 2^-7, fp16 2^-10 relative) is allowed
// there and is carried into the layers after it.
Tol tolerance(const std::string& backend, DType t, bool full_model) {
    if (backend == "cpu") {
        if (t == DType::F32) return full_model ? Tol{2e-4, 2e-3} : Tol{2e-5, 2e-4};
        const double ulp = t == DType::BF16 ? 0x1p-7 : 0x1p-10;
        return full_model ? Tol{4 * ulp, 4 * ulp} : Tol{2e-5, 2e-4};
    }
    switch (t) {
        case DType::F32: return full_model ? Tol{1e-3, 5e-3} : Tol{1e-4, 1e-3};
        case DType::F16: return full_model ? Tol{2e-2, 3e-2} : Tol{3e-3, 1e-2};
        case DType::BF16: return full_model ? Tol{5e-2, 6e-2} : Tol{2e-2, 3e-2};
        case DType::Q8_0: break;
    }
    return {1e-3, 1e-3};
}

struct Row {
    std::string backend, test, shape, dtype;
    double max_abs = 0, worst_ratio = 0;  // worst |err| / (atol + rtol |ref|)
    Tol tol{};
    bool pass = true;
    std::string note;
};

void compare(Row& r, const float* x, const double* ref, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const double err = std::fabs(static_cast<double>(x[i]) - ref[i]);
        if (!std::isfinite(x[i])) {
            r.pass = false;
            r.note = "non-finite output";
            r.worst_ratio = INFINITY;
            continue;
        }
        r.max_abs = std::max(r.max_abs, err);
        const double ratio = err / (r.tol.atol + r.tol.rtol * std::fabs(ref[i]));
        r.worst_ratio = std::max(r.worst_ratio, ratio);
        if (ratio > 1.0) r.pass = false;
    }
}

std::vector<uint16_t> encode(const std::vector<float>& x, DType t) {
    std::vector<uint16_t> o(x.size());
    storeAs(t, x.data(), o.data(), static_cast<int64_t>(x.size()));
    return o;
}

struct Heads {
    int64_t hq, hkv;
    const char* kind;
};
struct Len {
    int64_t tq, tk;
    const char* phase;
    bool causal_too;  // also run the causal variant
};

// One attention case: the backend's output and probabilities against ref::attention (window > 0: a sliding
// window of that many keys on top of the causal mask).
Row attentionCase(Backend& be, Rng& rng, DType t, int64_t D, const Heads& h, const Len& L, bool causal,
                  int64_t window = 0) {
    AttentionShape s{2, h.hq, h.hkv, L.tq, L.tk, D, causal, window};
    // q: (B, Hq, Tq, D); k, v: (B, Hkv, Tk, D); out: (B, Hq, Tq, D); probs: (B, Hq, Tq, Tk)
    std::vector<float> q(static_cast<size_t>(s.batch * s.n_q_heads * s.q_len * D));
    std::vector<float> k(static_cast<size_t>(s.batch * s.n_kv_heads * s.kv_len * D)), v(k.size());
    for (auto& x : q) x = static_cast<float>(rng.normal());
    for (auto& x : k) x = roundTo(t, static_cast<float>(rng.normal()));
    for (auto& x : v) x = roundTo(t, static_cast<float>(rng.normal()));
    std::vector<float> out(q.size(), NAN), probs(static_cast<size_t>(s.batch * s.n_q_heads * s.q_len * s.kv_len), NAN);
    Status st;
    if (t == DType::F32) {
        st = be.attention(s, q.data(), k.data(), v.data(), t, out.data(), probs.data());
    } else {
        const auto k16 = encode(k, t), v16 = encode(v, t);
        st = be.attention(s, q.data(), k16.data(), v16.data(), t, out.data(), probs.data());
    }
    std::vector<double> ro(out.size()), rp(probs.size());
    ref::attention(s, q.data(), k.data(), v.data(), ro.data(), rp.data());
    char shape[112];
    std::snprintf(shape, sizeof shape, "B2 %lld/%lld Tq%lld Tk%lld D%lld%s", (long long)h.hq, (long long)h.hkv,
                  (long long)L.tq, (long long)L.tk, (long long)D, causal ? " causal" : "");
    if (window > 0)
        std::snprintf(shape + std::strlen(shape), sizeof shape - std::strlen(shape), " w%lld", (long long)window);
    Row r{be.name(), std::string(window > 0 ? "window attention " : "attention ") + L.phase + " " + h.kind,
          shape,     dtypeName(t),
          0,         0,
          {},        true,
          {}};
    r.tol = tolerance(be.name(), t, false);
    if (!st) {
        r.pass = false;
        r.note = st.message();
    } else {
        compare(r, out.data(), ro.data(), out.size());
        Row pr = r;
        compare(pr, probs.data(), rp.data(), probs.size());
        r.pass = r.pass && pr.pass;
        r.worst_ratio = std::max(r.worst_ratio, pr.worst_ratio);
        r.note = "out + probs";
    }
    return r;
}

void attentionGrid(Backend& be, std::vector<Row>& rows) {
    const Heads heads[] = {{16, 16, "MHA"}, {16, 8, "GQA g=2"}, {16, 4, "GQA g=4"}, {16, 2, "GQA g=8"}, {16, 1, "MQA"}};
    const Len lens[] = {{77, 77, "prefill", true}, {1, 300, "decode", true}, {19, 140, "chunk", true}};
    Rng rng(2024);
    for (DType t : {DType::F32, DType::F16, DType::BF16})
        for (int64_t D : {64, 128})
            for (const auto& h : heads)
                for (const auto& L : lens)
                    for (bool causal : {false, true}) rows.push_back(attentionCase(be, rng, t, D, h, L, causal));
    // For the CUDA kernels: group sizes outside the compile-time switch {1, 2, 4, 8, 16} run their run-time-g
    // instantiation (G_ = 0) — tensor cores for 16-bit K/V with Tq > 4, split-K otherwise. Tk 203 is not a
    // multiple of any key tile (64/32/16); Tq > Tk only without the causal mask (validate() refuses causal
    // q_len > kv_len), Tk 5 shorter than one tile. Cheap, so the CPU runs them too.
    const Heads odd_heads[] = {{12, 4, "GQA g=3"}, {12, 2, "GQA g=6"}, {24, 4, "GQA g=6"}};
    const Len odd_lens[] = {{77, 77, "prefill", true},    {1, 300, "decode", true},    {3, 203, "short Tq", true},
                            {50, 203, "ragged Tk", true}, {100, 37, "Tq > Tk", false}, {9, 5, "Tq > Tk", false}};
    Rng rng_odd(2025);
    for (DType t : {DType::F32, DType::F16, DType::BF16})
        for (int64_t D : {64, 128})
            for (const auto& h : odd_heads)
                for (const auto& L : odd_lens)
                    for (bool causal : {false, true})
                        if (!causal || L.causal_too) rows.push_back(attentionCase(be, rng_odd, t, D, h, L, causal));
    // Ragged Tk and Tq > Tk on the compile-time group sizes too (g = 4 here).
    const Heads g4{16, 4, "GQA g=4"};
    for (DType t : {DType::F16, DType::BF16})
        for (const Len& L : {Len{50, 203, "ragged Tk", true}, Len{100, 37, "Tq > Tk", false}})
            for (bool causal : {false, true})
                if (!causal || L.causal_too) rows.push_back(attentionCase(be, rng_odd, t, 128, g4, L, causal));
}

// Decode steps T .. T + steps - 1 of `all` ((B, T + steps) ids) on an instance that holds the first T tokens, each
// step's last hidden state and logits against a full float64 recompute of the longer sequence.
void decodeAgainstRecompute(ModelInstance& inst, const Model& w, const std::vector<int32_t>& all, int64_t B, int64_t T,
                            int64_t steps, DType kv, Row& decode) {
    const int64_t ctx = T + steps, d = w.config.d_model, V = w.config.vocab_size;
    auto slice = [&](int64_t from, int64_t to) {  // (B, to - from) tokens of every sequence
        std::vector<int32_t> r;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = from; i < to; ++i) r.push_back(all[static_cast<size_t>(b * ctx + i)]);
        return r;
    };
    for (int64_t s = 0; s < steps && decode.pass; ++s) {
        const auto tok = slice(T + s, T + s + 1);
        StepOutput dout;
        StepRequest dreq;
        dreq.logits = LogitsMode::Last;
        if (auto st = inst.decode(tok.data(), dreq, dout); !st) {
            decode.pass = false;
            decode.note = st.message();
            return;
        }
        const int64_t len = T + s + 1;
        const auto full = ref::forward(w, slice(0, len), B, len, kv, /*logits=*/true);
        std::vector<double> last, last_logits;
        for (int64_t b = 0; b < B; ++b) {
            last.insert(last.end(), full.hidden.begin() + (b * len + len - 1) * d,
                        full.hidden.begin() + (b * len + len) * d);
            last_logits.insert(last_logits.end(), full.logits.begin() + (b * len + len - 1) * V,
                               full.logits.begin() + (b * len + len) * V);
        }
        compare(decode, dout.hidden.data(), last.data(), last.size());
        compare(decode, dout.logits.data(), last_logits.data(), last_logits.size());
    }
}

// Full models (2 layers, logits included) against the double-precision reference forward: prefill hidden states
// and logits, decode steps against a full recompute of the longer sequence, and every layer's KV cache and maps.
// Weights and KV cache in each storage dtype; Q8_0 weights with an fp32 cache.
void modelGrid(Backend& be, std::vector<Row>& rows) {
    struct Dtypes {
        DType weights, kv;
    };
    const Dtypes dtypes[] = {
        {DType::F32, DType::F32}, {DType::F16, DType::F16}, {DType::BF16, DType::BF16}, {DType::Q8_0, DType::F32}};
    for (const auto& dts : dtypes)
        for (int64_t D : {64, 128})
            for (int64_t hkv : {8, 4, 2, 1}) {
                const DType t = dts.kv;
                ModelConfig c;
                c.name = "verify";
                c.d_model = 256;
                c.n_layers = 2;
                c.n_q_heads = 8;
                c.n_kv_heads = hkv;
                c.head_dim = D;
                c.ffn_dim = 384;
                c.vocab_size = 512;
                c.max_seq = 64;
                c.weight_dtype = c.embed_dtype = dts.weights;
                c.kv_dtype = t;
                c.tied_embeddings = hkv % 2 == 0;  // both LM-head forms
                const int64_t B = 2, T = 21, steps = 3;
                auto w = makeSyntheticModel(c, 7 + static_cast<uint64_t>(hkv), WeightsMode::Random);
                char shape[96];
                std::snprintf(shape, sizeof shape, "B2 L2 8/%lld D%lld T%lld+%lld", (long long)hkv, (long long)D,
                              (long long)T, (long long)steps);
                const char* kind = hkv == 8 ? "MHA" : hkv == 1 ? "MQA" : hkv == 4 ? "GQA g=2" : "GQA g=4";
                const std::string dt = std::string(dtypeName(dts.weights)) + " w / " + dtypeName(t) + " kv";
                Row prefill{be.name(), std::string("model prefill + logits ") + kind, shape, dt, 0, 0, {}, true, {}};
                Row decode{be.name(), std::string("model decode + logits ") + kind, shape, dt, 0, 0, {}, true, {}};
                Row cache{be.name(), std::string("kv cache + maps ") + kind, shape, dt, 0, 0, {}, true, {}};
                // Layer 1's K/V and maps carry layer 0's rounding of the cache, like the hidden states.
                Row deep{be.name(), std::string("kv cache + maps, layer 1 ") + kind, shape, dt, 0, 0, {}, true, {}};
                prefill.tol = decode.tol = deep.tol = tolerance(be.name(), t, true);
                cache.tol = tolerance(be.name(), t, false);
                if (t != DType::F32) cache.tol.rtol = std::max(cache.tol.rtol, t == DType::BF16 ? 0x1p-7 : 0x1p-10);
                auto model = w ? be.createModel(*w, B, T + steps) : Expected<std::unique_ptr<ModelInstance>>(w.error());
                if (!model) {
                    prefill.pass = decode.pass = cache.pass = false;
                    prefill.note = model.error().message;
                    rows.push_back(prefill);
                    continue;
                }
                const auto all_tokens = makeTokens(B, T + steps, c.vocab_size, 99);
                std::vector<int32_t> prompt(static_cast<size_t>(B * T));
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t i = 0; i < T; ++i)
                        prompt[static_cast<size_t>(b * T + i)] = all_tokens[static_cast<size_t>(b * (T + steps) + i)];
                StepRequest req;
                req.maps.layers = {0, 1};
                req.logits = LogitsMode::All;
                StepOutput out;
                auto st = (*model)->prefill(prompt.data(), T, req, out);
                const auto ref_prompt = ref::forward(*w, prompt, B, T, t, /*logits=*/true, /*capture=*/true);
                if (!st) {
                    prefill.pass = false;
                    prefill.note = st.message();
                } else {
                    compare(prefill, out.hidden.data(), ref_prompt.hidden.data(), ref_prompt.hidden.size());
                    compare(prefill, out.logits.data(), ref_prompt.logits.data(), ref_prompt.logits.size());
                    prefill.note = "hidden + logits of every position";
                    // Maps and cache of every layer against the reference's.
                    for (int64_t l = 0; l < c.n_layers; ++l) {
                        Row& row = l == 0 ? cache : deep;
                        const auto& m = out.maps.at(static_cast<size_t>(l));
                        compare(row, m.probs.data(), ref_prompt.probs[static_cast<size_t>(l)].data(), m.probs.size());
                        std::vector<float> ck, cv;
                        if (auto s2 = (*model)->readKvCache(l, ck, cv); !s2) {
                            row.pass = false;
                            row.note = s2.message();
                            break;
                        }
                        const auto& rk = ref_prompt.k[static_cast<size_t>(l)];
                        const auto& rv = ref_prompt.v[static_cast<size_t>(l)];
                        std::vector<double> dk(rk.begin(), rk.end()), dv(rv.begin(), rv.end());
                        compare(row, ck.data(), dk.data(), dk.size());
                        compare(row, cv.data(), dv.data(), dv.size());
                    }
                    if (cache.note.empty()) cache.note = "K, V, maps of layer 0";
                    if (deep.note.empty()) deep.note = "K, V, maps of layer 1";
                }
                // Decode with the cache equals a full recompute of the longer sequence.
                decodeAgainstRecompute(**model, *w, all_tokens, B, T, steps, t, decode);
                if (decode.note.empty()) decode.note = "vs full recompute";
                rows.push_back(prefill);
                rows.push_back(decode);
                rows.push_back(cache);
                rows.push_back(deep);
            }
}

// Sliding-window attention against the float64 reference: the attention op with windows shorter than, equal to
// and longer than the context (prefill, decode, chunked), and full models whose KV cache is a rolling buffer of
// w positions: prefill, a chunked prefill that wraps the buffer, decode steps past w against a full recompute
// with the window mask, the maps and the positions the cache still holds.
void windowGrid(Backend& be, std::vector<Row>& rows) {
    struct WCase {
        int64_t tq, tk, w;
        const char* what;
    };
    const WCase cases[] = {{150, 150, 37, "prefill w<T"},  {150, 150, 150, "prefill w=T"},
                           {150, 150, 400, "prefill w>T"}, {1, 300, 64, "decode w<T"},
                           {1, 300, 300, "decode w=T"},    {1, 300, 1000, "decode w>T"},
                           {19, 140, 50, "chunk w<T"},     {40, 203, 1, "chunk w=1"}};
    const Heads heads[] = {{16, 4, "GQA g=4"}, {16, 1, "MQA"}, {12, 2, "GQA g=6"}};
    Rng rng(2026);
    for (DType t : {DType::F32, DType::F16, DType::BF16})
        for (int64_t D : {64, 128})
            for (const auto& h : heads)
                for (const auto& c : cases)
                    rows.push_back(attentionCase(be, rng, t, D, h, Len{c.tq, c.tk, c.what, false}, true, c.w));

    // Full models with a window: T = 21 prompt tokens (as two chunks of 10 + 11, so the second wraps a short
    // buffer), then 6 decode steps; context 27.
    // Per-layer windows (layer_windows) mix a rolling cache with a full one in the same model.
    struct MCase {
        int64_t w;
        std::vector<int64_t> layers;
        const char* what;
    };
    const MCase mcases[] = {{8, {}, "w<T (rolling cache)"},
                            {27, {}, "w=T"},
                            {64, {}, "w>T"},
                            {1, {}, "w=1"},
                            {8, {8, 0}, "per layer: w=8, full"},
                            {5, {0, 5}, "per layer: full, w=5"}};
    for (DType t : {DType::F32, DType::BF16})
        for (const auto& mc : mcases) {
            ModelConfig c;
            c.name = "verify-window";
            c.d_model = 256;
            c.n_layers = 2;
            c.n_q_heads = 8;
            c.n_kv_heads = 2;
            c.head_dim = 64;
            c.ffn_dim = 384;
            c.vocab_size = 512;
            c.max_seq = 64;
            c.sliding_window = mc.w;
            c.layer_windows = mc.layers;
            c.weight_dtype = c.embed_dtype = c.kv_dtype = t;
            const int64_t B = 2, T1 = 10, T = 21, steps = 6, ctx = T + steps;
            char shape[112];
            std::snprintf(shape, sizeof shape, "B2 L2 8/2 D64 T%lld+%lld+%lld w%lld,%lld", (long long)T1,
                          (long long)(T - T1), (long long)steps, (long long)c.windowOf(0), (long long)c.windowOf(1));
            const std::string dt = std::string(dtypeName(t)) + " w / " + dtypeName(t) + " kv";
            Row prefill{be.name(), std::string("window model prefill, 2 chunks ") + mc.what, shape, dt, 0, 0, {}, true,
                        {}};
            Row decode{be.name(), std::string("window model decode past w ") + mc.what, shape, dt, 0, 0, {}, true, {}};
            Row cache{be.name(), std::string("window kv cache + maps ") + mc.what, shape, dt, 0, 0, {}, true, {}};
            prefill.tol = decode.tol = cache.tol = tolerance(be.name(), t, true);
            auto w = makeSyntheticModel(c, 17, WeightsMode::Random);
            auto model = w ? be.createModel(*w, B, ctx) : Expected<std::unique_ptr<ModelInstance>>(w.error());
            if (!model) {
                prefill.pass = false;
                prefill.note = model.error().message;
                rows.push_back(prefill);
                continue;
            }
            const auto all = makeTokens(B, ctx, c.vocab_size, 5);
            auto slice = [&](int64_t from, int64_t to) {  // (B, to - from) tokens of every sequence
                std::vector<int32_t> r;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t i = from; i < to; ++i) r.push_back(all[static_cast<size_t>(b * ctx + i)]);
                return r;
            };
            const auto ref = ref::forward(*w, slice(0, T), B, T, t, /*logits=*/true, /*capture=*/true);
            StepRequest req;
            req.maps.layers = {0, 1};
            req.logits = LogitsMode::All;
            StepOutput o1, o2;
            const auto c1 = slice(0, T1), c2 = slice(T1, T);
            Status st = (*model)->prefill(c1.data(), T1, req, o1);
            if (st) st = (*model)->prefill(c2.data(), T - T1, req, o2);
            if (!st) {
                prefill.pass = false;
                prefill.note = st.message();
                rows.push_back(prefill);
                continue;
            }
            // Rows [from, to) of the reference's (B, T, n) per-position values.
            auto refRows = [&](const std::vector<double>& x, int64_t n, int64_t from, int64_t to) {
                std::vector<double> r;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t i = from; i < to; ++i)
                        r.insert(r.end(), x.begin() + (b * T + i) * n, x.begin() + (b * T + i + 1) * n);
                return r;
            };
            auto chunk = [&](const StepOutput& o, int64_t from, int64_t to) {
                const auto h = refRows(ref.hidden, c.d_model, from, to),
                           lg = refRows(ref.logits, c.vocab_size, from, to);
                compare(prefill, o.hidden.data(), h.data(), h.size());
                compare(prefill, o.logits.data(), lg.data(), lg.size());
            };
            chunk(o1, 0, T1);
            chunk(o2, T1, T);
            prefill.note = "hidden + logits, both chunks";
            // Maps of the second chunk (Tq 11 over Tk 21): reference rows T1..T-1; the cache: the last min(T, w)
            // positions of the reference's K and V.
            for (int64_t l = 0; l < c.n_layers; ++l) {
                const auto& m = o2.maps.at(static_cast<size_t>(l));
                const auto& rp = ref.probs[static_cast<size_t>(l)];
                std::vector<double> want;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t h = 0; h < c.n_q_heads; ++h)
                        for (int64_t i = T1; i < T; ++i)
                            want.insert(want.end(), rp.begin() + ((b * c.n_q_heads + h) * T + i) * T,
                                        rp.begin() + ((b * c.n_q_heads + h) * T + i + 1) * T);
                compare(cache, m.probs.data(), want.data(), want.size());
                std::vector<float> ck, cv;
                if (auto s2 = (*model)->readKvCache(l, ck, cv); !s2) {
                    cache.pass = false;
                    cache.note = s2.message();
                    break;
                }
                const int64_t wl = c.windowOf(l), held = wl > 0 ? std::min(T, std::min(ctx, wl)) : T, D = c.head_dim;
                std::vector<double> rk, rv;
                for (int64_t bh = 0; bh < B * c.n_kv_heads; ++bh)
                    for (int64_t i = T - held; i < T; ++i)
                        for (int64_t e = 0; e < D; ++e) {
                            rk.push_back(ref.k[static_cast<size_t>(l)][static_cast<size_t>((bh * T + i) * D + e)]);
                            rv.push_back(ref.v[static_cast<size_t>(l)][static_cast<size_t>((bh * T + i) * D + e)]);
                        }
                if (ck.size() != rk.size()) {
                    cache.pass = false;
                    cache.note =
                        "cache holds " + std::to_string(ck.size()) + " values, expected " + std::to_string(rk.size());
                    break;
                }
                compare(cache, ck.data(), rk.data(), rk.size());
                compare(cache, cv.data(), rv.data(), rv.size());
            }
            if (cache.note.empty()) cache.note = "maps of chunk 2, K/V still held";
            // Decode past w: each step against a full recompute of the longer sequence with the window mask.
            decodeAgainstRecompute(**model, *w, all, B, T, steps, t, decode);
            if (decode.note.empty()) decode.note = "vs full recompute with the window mask";
            rows.push_back(prefill);
            rows.push_back(decode);
            rows.push_back(cache);
        }
}

int runVerify(const VerifyArgs& a) {
    std::vector<std::string> names;
    if (a.backend == "all") {
        for (const auto& b : probeBackends()) {
            if (b.available)
                names.push_back(b.name);
            else
                std::cerr << "skipping " << b.name << ": " << b.reason << "\n";
        }
    } else {
        names.push_back(a.backend);
    }
    std::vector<Row> rows;
    for (const auto& n : names) {
        auto be = openBackend(n);
        if (!be) return reportError(be.error());
        attentionGrid(**be, rows);
        modelGrid(**be, rows);
        windowGrid(**be, rows);
    }
    int failed = 0;
    for (const auto& r : rows) failed += r.pass ? 0 : 1;
    if (a.json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& r : rows)
            j.push_back({{"backend", r.backend},
                         {"test", r.test},
                         {"shape", r.shape},
                         {"dtype", r.dtype},
                         {"max_abs_err", r.max_abs},
                         {"worst_err_over_tol", r.worst_ratio},
                         {"atol", r.tol.atol},
                         {"rtol", r.tol.rtol},
                         {"pass", r.pass},
                         {"note", r.note}});
        std::cout << nlohmann::json{{"cases", j}, {"passed", rows.size() - failed}, {"failed", failed}}.dump(2) << "\n";
    } else {
        std::printf("| backend | test | shape | dtype | max abs err | err/tol | atol | rtol | result |\n");
        std::printf("|---|---|---|---|---|---|---|---|---|\n");
        for (const auto& r : rows)
            std::printf("| %s | %s | %s | %s | %.2e | %.3f | %.0e | %.0e | %s%s%s |\n", r.backend.c_str(),
                        r.test.c_str(), r.shape.c_str(), r.dtype.c_str(), r.max_abs, r.worst_ratio, r.tol.atol,
                        r.tol.rtol, r.pass ? "PASS" : "FAIL", r.note.empty() ? "" : " — ", r.note.c_str());
        std::printf("\n%zu passed, %d failed\n", rows.size() - failed, failed);
    }
    if (rows.empty()) return reportError(makeError(ErrorCode::Unavailable, "no backend to verify"));
    return failed == 0 ? 0 : 1;
}

const CommandRegistrar reg("verify", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<VerifyArgs>();
    auto* cmd = app.add_subcommand(
        "verify",
        "Check backends against a double-precision reference: MHA, GQA g=2/4/8, MQA; head_dim 64 and 128; "
        "causal and not; prefill, decode and chunked; fp32/fp16/bf16; full layers, KV cache and maps. "
        "Also g=3/6 (the CUDA kernels' run-time group size), Tq 3, ragged Tk, Tq > Tk. "
        "Exits non-zero on any mismatch.");
    cmd->add_option("--backend", args->backend, "cpu, cuda or all (every available backend)")->capture_default_str();
    cmd->add_flag("--json", args->json, "Print JSON");
    cmd->callback([args, &exit_code] { exit_code = runVerify(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
