#include "gqa/convert.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace gqa {

namespace {

Error invalid(std::string msg) { return makeError(ErrorCode::InvalidArgument, std::move(msg)); }
std::string num(int64_t v) { return std::to_string(v); }

std::string divisorList(int64_t n) {
    std::string s;
    for (int64_t k = 1; k <= n; ++k)
        if (n % k == 0) s += (s.empty() ? "" : ", ") + num(k);
    return s;
}

}  // namespace

const char* convertMethodName(ConvertMethod m) { return m == ConvertMethod::MeanPool ? "meanpool" : "first"; }

std::optional<ConvertMethod> parseConvertMethod(std::string_view s) {
    if (s == "meanpool" || s == "mean" || s == "mean-pool") return ConvertMethod::MeanPool;
    if (s == "first") return ConvertMethod::First;
    return std::nullopt;
}

Status validateKvTarget(const ModelConfig& cfg, int64_t new_n_kv) {
    GQA_TRY(cfg.validate());
    const int64_t old_n_kv = cfg.n_kv_heads;
    if (new_n_kv <= 0) return invalid("target KV-head count must be positive (got " + num(new_n_kv) + ")");
    if (new_n_kv > old_n_kv)
        return invalid("cannot convert to " + num(new_n_kv) + " KV heads: the model has " + num(old_n_kv) +
                       ", and conversion can only merge KV heads (valid targets: " + divisorList(old_n_kv) + ")");
    if (old_n_kv % new_n_kv != 0)
        return invalid("cannot convert " + num(old_n_kv) + " KV heads to " + num(new_n_kv) + ": " + num(new_n_kv) +
                       " does not divide " + num(old_n_kv) + ", so the groups would be unequal (valid targets: " +
                       divisorList(old_n_kv) + ")");
    return Status::ok();
}

Expected<ModelWeights> convertKvHeads(const ModelWeights& w, int64_t new_n_kv, ConvertMethod method) {
    GQA_TRY(validateKvTarget(w.config, new_n_kv));
    const ModelConfig& cfg = w.config;
    const int64_t d = cfg.d_model, D = cfg.head_dim, n_q = cfg.n_q_heads, n_kv = cfg.n_kv_heads;
    const int64_t r = n_kv / new_n_kv;  // old KV heads per new one
    const int64_t old_cols = (n_q + 2 * n_kv) * D;
    const int64_t new_cols = (n_q + 2 * new_n_kv) * D;

    ModelWeights out;
    out.config = cfg;
    out.config.n_kv_heads = new_n_kv;
    out.vocab_rows = w.vocab_rows;
    out.mode = w.mode;
    out.seed = w.seed;
    out.embedding = w.embedding;
    out.final_norm = w.final_norm;
    out.head_roles = w.head_roles;
    out.layers.reserve(w.layers.size());

    for (size_t l = 0; l < w.layers.size(); ++l) {
        const LayerWeights& src = w.layers[l];
        if (static_cast<int64_t>(src.wqkv.size()) != d * old_cols)
            return makeError(ErrorCode::Internal, "layer " + std::to_string(l) + ": wqkv holds " +
                                                      std::to_string(src.wqkv.size()) + " values, expected " +
                                                      num(d) + " x " + num(old_cols));
        LayerWeights dst = src;  // norms, wo, FFN unchanged
        dst.wqkv.assign(static_cast<size_t>(d * new_cols), 0.0f);
        for (int64_t i = 0; i < d; ++i) {
            const float* in = src.wqkv.data() + i * old_cols;  // (old_cols) = [Q | K | V]
            float* o = dst.wqkv.data() + i * new_cols;         // (new_cols) = [Q | K' | V']
            std::copy(in, in + n_q * D, o);
            // block 0 = K, block 1 = V; old block starts at column (n_q + block * n_kv) * D.
            for (int64_t block = 0; block < 2; ++block) {
                const float* kin = in + (n_q + block * n_kv) * D;       // (n_kv, D)
                float* kout = o + (n_q + block * new_n_kv) * D;         // (new_n_kv, D)
                for (int64_t j = 0; j < new_n_kv; ++j) {
                    for (int64_t c = 0; c < D; ++c) {
                        float v;
                        if (method == ConvertMethod::First) {
                            v = kin[(j * r) * D + c];
                        } else {
                            // Double accumulation keeps the mean of r identical values exact.
                            double acc = 0.0;
                            for (int64_t t = 0; t < r; ++t) acc += kin[(j * r + t) * D + c];
                            v = roundTo(cfg.dtype, static_cast<float>(acc / static_cast<double>(r)));
                        }
                        kout[j * D + c] = v;
                    }
                }
            }
        }
        out.layers.push_back(std::move(dst));
    }
    return out;
}

double relativeError(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return std::numeric_limits<double>::quiet_NaN();
    double diff = 0.0, ref = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        diff += x * x;
        ref += static_cast<double>(b[i]) * static_cast<double>(b[i]);
    }
    if (ref == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
    return std::sqrt(diff / ref);
}

double jsDivergenceBits(const float* p, const float* q, int64_t n) {
    // JS = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2.
    double js = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double pi = p[i], qi = q[i], m = 0.5 * (pi + qi);
        if (pi > 0.0) js += 0.5 * pi * std::log2(pi / m);
        if (qi > 0.0) js += 0.5 * qi * std::log2(qi / m);
    }
    return std::clamp(js, 0.0, 1.0);  // rounding can step just outside [0, 1]
}

StepRequest qualityCaptureRequest(int64_t n_layers) {
    StepRequest req;
    req.capture_layers = true;
    for (int64_t l = 0; l < n_layers; ++l) req.maps.layers.push_back(l);
    return req;  // maps.heads empty = all heads
}

Expected<ConversionQuality> compareOutputs(const StepOutput& c, const StepOutput& o) {
    const size_t n_layers = o.layer_attn_out.size();
    if (n_layers == 0 || o.layer_hidden.size() != n_layers)
        return invalid("the original model's prefill did not capture per-layer outputs (capture_layers)");
    if (c.layer_attn_out.size() != n_layers || c.layer_hidden.size() != n_layers)
        return invalid("the two models captured a different number of layers (" +
                       std::to_string(c.layer_attn_out.size()) + " vs " + std::to_string(n_layers) + ")");
    if (c.hidden.size() != o.hidden.size())
        return invalid("the two models' final hidden states differ in size");

    ConversionQuality q;
    q.head_js_bits.resize(n_layers);
    for (size_t l = 0; l < n_layers; ++l) {
        if (c.layer_attn_out[l].size() != o.layer_attn_out[l].size() ||
            c.layer_hidden[l].size() != o.layer_hidden[l].size())
            return invalid("layer " + std::to_string(l) + ": the two models' captured outputs differ in size");
        q.attn_out_rel_error.push_back(relativeError(c.layer_attn_out[l], o.layer_attn_out[l]));
        q.hidden_rel_error.push_back(relativeError(c.layer_hidden[l], o.layer_hidden[l]));
    }
    q.final_hidden_rel_error = relativeError(c.hidden, o.hidden);

    double js_sum = 0.0;
    int64_t js_count = 0;
    for (const LayerMaps& mc : c.maps) {
        auto it = std::find_if(o.maps.begin(), o.maps.end(), [&](const LayerMaps& m) { return m.layer == mc.layer; });
        if (it == o.maps.end()) return invalid("layer " + std::to_string(mc.layer) + ": the original has no map");
        const LayerMaps& mo = *it;
        if (mc.layer < 0 || mc.layer >= static_cast<int64_t>(n_layers))
            return invalid("map of layer " + std::to_string(mc.layer) + " is outside the layers run");
        if (mc.heads != mo.heads || mc.batch != mo.batch || mc.q_len != mo.q_len || mc.kv_len != mo.kv_len ||
            mc.probs.size() != mo.probs.size())
            return invalid("layer " + std::to_string(mc.layer) + ": the two models' attention maps differ in shape");
        // probs: (B, heads, Tq, Tk)
        std::vector<double>& per_head = q.head_js_bits[static_cast<size_t>(mc.layer)];
        per_head.assign(mc.heads.size(), 0.0);
        const int64_t rows = mc.batch * mc.q_len;
        for (size_t hi = 0; hi < mc.heads.size(); ++hi) {
            double acc = 0.0;
            for (int64_t b = 0; b < mc.batch; ++b)
                for (int64_t i = 0; i < mc.q_len; ++i) {
                    const int64_t h = static_cast<int64_t>(hi);
                    const size_t off = static_cast<size_t>(((b * static_cast<int64_t>(mc.heads.size()) + h) *
                                                                mc.q_len + i) * mc.kv_len);
                    acc += jsDivergenceBits(mc.probs.data() + off, mo.probs.data() + off, mc.kv_len);
                }
            per_head[hi] = rows > 0 ? acc / static_cast<double>(rows) : 0.0;
            js_sum += per_head[hi];
            ++js_count;
        }
    }
    q.mean_js_bits = js_count > 0 ? js_sum / static_cast<double>(js_count) : 0.0;
    return q;
}

Expected<ConversionQuality> measureConversionQuality(Backend& backend, const ModelWeights& original,
                                                     const ModelWeights& converted,
                                                     const std::vector<int32_t>& tokens, int64_t batch, int64_t T) {
    const ModelConfig &a = original.config, &b = converted.config;
    if (a.d_model != b.d_model || a.n_q_heads != b.n_q_heads || a.head_dim != b.head_dim ||
        original.layers.size() != converted.layers.size() || original.vocab_rows != converted.vocab_rows)
        return invalid("the converted model must match the original in everything but its KV heads");
    if (batch <= 0 || T <= 0 || static_cast<int64_t>(tokens.size()) != batch * T)
        return invalid("tokens must hold batch x T = " + num(batch) + " x " + num(T) + " ids (got " +
                       std::to_string(tokens.size()) + ")");
    const StepRequest req = qualityCaptureRequest(static_cast<int64_t>(original.layers.size()));
    StepOutput out_o, out_c;
    {
        auto inst = backend.createModel(original, batch, T);
        if (!inst) return inst.error();
        GQA_TRY((*inst)->prefill(tokens.data(), T, req, out_o));
    }
    {
        auto inst = backend.createModel(converted, batch, T);
        if (!inst) return inst.error();
        GQA_TRY((*inst)->prefill(tokens.data(), T, req, out_c));
    }
    return compareOutputs(out_c, out_o);
}

}  // namespace gqa
