#include "gqa/convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace gqa {

namespace {

Error invalid(std::string msg) {
    return makeError(ErrorCode::InvalidArgument, std::move(msg));
}
std::string num(int64_t v) {
    return std::to_string(v);
}

std::string divisorList(int64_t n) {
    std::string s;
    for (int64_t k = 1; k <= n; ++k)
        if (n % k == 0) s += (s.empty() ? "" : ", ") + num(k);
    return s;
}

}  // namespace

const char* convertMethodName(ConvertMethod m) {
    return m == ConvertMethod::MeanPool ? "meanpool" : "first";
}

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
                       " does not divide " + num(old_n_kv) +
                       ", so the groups would be unequal (valid targets: " + divisorList(old_n_kv) + ")");
    return Status::ok();
}

namespace {

// Rows [j*r*D, (j*r + r)*D) of an (n_kv*D, in) tensor pooled into rows [j*D, (j+1)*D) of `dst`, for every new
// KV head j: the mean of the r old heads (in double, then stored in the tensor's dtype) or the first of them.
void poolHeads(const Tensor& src, Tensor& dst, void* out, int64_t D, int64_t r, ConvertMethod method) {
    const int64_t in = src.cols(), new_rows = dst.rows();
    const int64_t row_bytes = src.rowBytes();
    auto* o = static_cast<uint8_t*>(out);
    std::vector<float> tmp(static_cast<size_t>(in));
    std::vector<double> acc(static_cast<size_t>(in));
    std::vector<float> mean(static_cast<size_t>(in));
    for (int64_t row = 0; row < new_rows; ++row) {
        const int64_t j = row / D, c = row % D;
        if (method == ConvertMethod::First || r == 1) {
            std::memcpy(o + row * row_bytes, src.row((j * r) * D + c), static_cast<size_t>(row_bytes));
            continue;
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < r; ++t) {
            loadAsFloat(src.dtype, src.row((j * r + t) * D + c), tmp.data(), in);
            for (int64_t i = 0; i < in; ++i) acc[static_cast<size_t>(i)] += tmp[static_cast<size_t>(i)];
        }
        // Double accumulation keeps the mean of r identical values exact.
        for (int64_t i = 0; i < in; ++i)
            mean[static_cast<size_t>(i)] = static_cast<float>(acc[static_cast<size_t>(i)] / static_cast<double>(r));
        storeAs(src.dtype, mean.data(), o + row * row_bytes, in);
    }
}

// A bias vector (n_kv*D) pooled the same way, viewed as n_kv*D rows of one value.
void poolBias(const Tensor& src, Tensor& dst, void* out, int64_t D, int64_t r, ConvertMethod method) {
    std::vector<float> v(static_cast<size_t>(src.numel())), w(static_cast<size_t>(dst.numel()));
    loadAsFloat(src.dtype, src.data, v.data(), src.numel());
    for (int64_t row = 0; row < dst.numel(); ++row) {
        const int64_t j = row / D, c = row % D;
        double acc = 0.0;
        const int64_t n = method == ConvertMethod::First ? 1 : r;
        for (int64_t t = 0; t < n; ++t) acc += v[static_cast<size_t>((j * r + t) * D + c)];
        w[static_cast<size_t>(row)] = static_cast<float>(acc / static_cast<double>(n));
    }
    storeAs(src.dtype, w.data(), out, dst.numel());
}

}  // namespace

Expected<Model> convertKvHeads(const Model& w, int64_t new_n_kv, ConvertMethod method) {
    GQA_TRY(validateKvTarget(w.config, new_n_kv));
    GQA_TRY(validateModel(w));
    const ModelConfig& cfg = w.config;
    const int64_t D = cfg.head_dim, n_kv = cfg.n_kv_heads;
    const int64_t r = n_kv / new_n_kv;  // old KV heads per new one
    try {
        Model out = w;                     // every tensor shared; only K/V (and their biases) are replaced below
        if (new_n_kv == n_kv) return out;  // nothing to merge: the same model
        out.config.n_kv_heads = new_n_kv;
        // One label saying where the grouping came from: a second conversion replaces the first's.
        std::string& name = out.config.name;
        std::string from = num(n_kv);
        if (const auto at = name.find(" (KV heads "); at != std::string::npos) {
            from = name.substr(at + 11, name.find(' ', at + 11) - (at + 11));
            name.erase(at);
        }
        name += " (KV heads " + from + " -> " + num(new_n_kv) + ", " + convertMethodName(method) + ")";
        for (auto& l : out.layers) {
            const LayerTensors src = l;
            for (auto [s, d] : {std::pair{&src.wk, &l.wk}, std::pair{&src.wv, &l.wv}}) {
                void* p = addOwnedTensor(out, *d, s->name, s->dtype, {new_n_kv * D, s->cols()});
                poolHeads(*s, *d, p, D, r, method);
            }
            if (cfg.qkv_bias)
                for (auto [s, d] : {std::pair{&src.bk, &l.bk}, std::pair{&src.bv, &l.bv}}) {
                    void* p = addOwnedTensor(out, *d, s->name, s->dtype, {new_n_kv * D});
                    poolBias(*s, *d, p, D, r, method);
                }
        }
        return out;
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, "not enough memory for the converted K/V projections");
    }
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
    if (c.hidden.size() != o.hidden.size()) return invalid("the two models' final hidden states differ in size");

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
                    const size_t off = static_cast<size_t>(
                        ((b * static_cast<int64_t>(mc.heads.size()) + h) * mc.q_len + i) * mc.kv_len);
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

Expected<ConversionQuality> measureConversionQuality(Backend& backend, const Model& original, const Model& converted,
                                                     const std::vector<int32_t>& tokens, int64_t batch, int64_t T) {
    const ModelConfig &a = original.config, &b = converted.config;
    if (a.d_model != b.d_model || a.n_q_heads != b.n_q_heads || a.head_dim != b.head_dim ||
        original.layers.size() != converted.layers.size() || a.vocab_size != b.vocab_size)
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
