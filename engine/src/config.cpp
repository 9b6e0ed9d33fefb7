#include "gqa/config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "checked_math.h"

namespace gqa {

namespace {
Error invalid(std::string msg) {
    return makeError(ErrorCode::InvalidArgument, std::move(msg));
}
std::string num(int64_t v) {
    return std::to_string(v);
}
}  // namespace

const char* weightsModeName(WeightsMode m) {
    return m == WeightsMode::Structured ? "structured" : "random";
}

Status ModelConfig::validate() const {
    struct Field {
        const char* name;
        int64_t value;
    };
    const Field positive[] = {{"d_model", d_model},       {"n_layers", n_layers}, {"n_q_heads", n_q_heads},
                              {"n_kv_heads", n_kv_heads}, {"head_dim", head_dim}, {"ffn_dim", ffn_dim},
                              {"vocab_size", vocab_size}, {"max_seq", max_seq}};
    for (const auto& f : positive)
        if (f.value <= 0) return invalid(std::string(f.name) + " must be positive (got " + num(f.value) + ")");
    if (n_kv_heads > n_q_heads)
        return invalid("n_kv_heads (" + num(n_kv_heads) + ") cannot exceed n_q_heads (" + num(n_q_heads) +
                       "): each KV head is shared by at least one query head");
    if (n_q_heads % n_kv_heads != 0)
        return invalid("n_q_heads (" + num(n_q_heads) + ") is not a multiple of n_kv_heads (" + num(n_kv_heads) + ")");
    if (head_dim % 2 != 0)
        return invalid("head_dim (" + num(head_dim) + ") must be even: RoPE rotates pairs of dimensions");
    if (!(rope_theta > 1.0) || !std::isfinite(rope_theta))
        return invalid("rope_theta must be a finite number > 1 (got " + std::to_string(rope_theta) + ")");
    if (!(norm_eps > 0.0) || !(norm_eps < 1.0))
        return invalid("norm_eps must be in (0, 1) (got " + std::to_string(norm_eps) + ")");
    // Limits well past any published model, so that every byte count below fits in int64.
    const Field bounded[] = {{"d_model", d_model},   {"n_layers", n_layers}, {"n_q_heads", n_q_heads},
                             {"head_dim", head_dim}, {"ffn_dim", ffn_dim},   {"vocab_size", vocab_size},
                             {"max_seq", max_seq}};
    for (const auto& f : bounded)
        if (f.value > (int64_t{1} << 31)) return invalid(std::string(f.name) + " (" + num(f.value) + ") is too large");
    if (norm_dtype == DType::Q8_0) return invalid("norm gains and biases are stored as fp32, fp16 or bf16, not Q8_0");
    if (kv_dtype == DType::Q8_0) return invalid("the KV cache is stored as fp32, fp16 or bf16, not Q8_0");
    if ((rope_scaling.type != RopeScaling::None && !(rope_scaling.factor > 0.0)) ||
        (rope_scaling.type == RopeScaling::Llama3 &&
         !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor && rope_scaling.low_freq_factor > 0.0 &&
           rope_scaling.original_max_position > 0)))
        return invalid(
            "rope_scaling parameters are invalid (factor must be positive; llama3 needs "
            "high_freq_factor > low_freq_factor > 0 and original_max_position_embeddings > 0)");
    if (sliding_window < 0) return invalid("sliding_window cannot be negative");
    if (layer_windows.size() > (size_t{1} << 20))
        return invalid("layer_windows has " + num(static_cast<int64_t>(layer_windows.size())) + " entries");
    for (size_t l = 0; l < layer_windows.size(); ++l)
        if (layer_windows[l] < 0)
            return invalid("the sliding window of layer " + std::to_string(l) + " cannot be negative");
    const int64_t b = 4;  // bytes per value bound: every dtype stores at most 4
    const int64_t qkv_cols = (n_q_heads + 2 * n_kv_heads) * head_dim;
    auto layer = checkedSum({checkedProduct({d_model, qkv_cols}), checkedProduct({n_q_heads, head_dim, d_model}),
                             checkedProduct({3, d_model, ffn_dim}), checkedProduct({2, d_model})});
    auto all = layer ? checkedSum({checkedProduct({*layer, n_layers, b}), checkedProduct({2, vocab_size, d_model, b}),
                                   checkedProduct({d_model, b})})
                     : std::nullopt;
    auto kv = checkedProduct({2, n_layers, max_seq, n_kv_heads, head_dim, b, 4096 /* batch headroom */});
    if (!all || !kv) return invalid("model sizes are so large that their byte counts overflow 64 bits");
    return Status::ok();
}

std::vector<std::pair<int64_t, int64_t>> ModelConfig::windowCounts(int64_t layers) const {
    std::vector<std::pair<int64_t, int64_t>> out;
    const int64_t period = layer_windows.empty() ? 1 : static_cast<int64_t>(layer_windows.size());
    for (int64_t l = 0; l < std::min(period, layers); ++l) {
        const int64_t count = layers / period + (l < layers % period ? 1 : 0);
        const int64_t w = windowOf(l);
        auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == w; });
        if (it == out.end())
            out.emplace_back(w, count);
        else
            it->second += count;
    }
    return out;
}

bool ModelConfig::hasWindow(int64_t layers) const {
    const auto counts = windowCounts(layers > 0 ? layers : n_layers);
    return std::any_of(counts.begin(), counts.end(), [](const auto& e) { return e.first > 0; });
}

std::string ModelConfig::windowText() const {
    if (layer_windows.empty()) return sliding_window > 0 ? std::to_string(sliding_window) : "none";
    std::vector<int64_t> sizes;  // in order of first appearance
    int64_t windowed = 0;
    for (const auto& [w, count] : windowCounts(n_layers)) {
        if (w <= 0) continue;
        windowed += count;
        sizes.push_back(w);
    }
    if (windowed == 0) return "none";
    std::string s;
    for (size_t i = 0; i < sizes.size(); ++i)
        s += (i ? (i + 1 == sizes.size() ? " or " : ", ") : "") + std::to_string(sizes[i]);
    if (windowed == n_layers) return s;
    return s + " on " + std::to_string(windowed) + " of " + std::to_string(n_layers) + " layers";
}

std::string ModelConfig::attentionKind() const {
    if (n_kv_heads <= 0 || n_q_heads <= 0) return "invalid";
    if (n_kv_heads == n_q_heads) return "MHA";
    if (n_kv_heads == 1) return "MQA";
    return "GQA (g = " + std::to_string(groupSize()) + ")";
}

std::vector<int64_t> ModelConfig::validKvHeadCounts() const {
    std::vector<int64_t> out;
    for (int64_t k = 1; k <= n_q_heads; ++k)
        if (n_q_heads % k == 0) out.push_back(k);
    return out;
}

std::vector<double> ropeInverseFrequencies(const ModelConfig& c) {
    const int64_t D = c.head_dim;
    std::vector<double> f(static_cast<size_t>(D / 2));
    const auto& rs = c.rope_scaling;
    for (int64_t i = 0; i < D / 2; ++i) {
        double v = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
        if (rs.type == RopeScaling::Linear) {
            v /= rs.factor;
        } else if (rs.type == RopeScaling::Llama3) {
            // Llama 3.1: wavelengths longer than original / low_freq_factor are slowed by `factor`, shorter
            // than original / high_freq_factor kept, and the band between blended linearly in 1 / wavelength.
            const double orig = static_cast<double>(rs.original_max_position);
            const double wavelen = 2.0 * M_PI / v;
            const double low_wl = orig / rs.low_freq_factor, high_wl = orig / rs.high_freq_factor;
            if (wavelen > low_wl) {
                v /= rs.factor;
            } else if (wavelen >= high_wl) {
                const double smooth =
                    (orig / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
                v = (1.0 - smooth) * v / rs.factor + smooth * v;
            }
        }
        f[static_cast<size_t>(i)] = v;
    }
    return f;
}

std::string ropeScalingText(const RopeScalingParams& r) {
    char buf[64];
    switch (r.type) {
        case RopeScaling::None: return "none";
        case RopeScaling::Linear: std::snprintf(buf, sizeof buf, "linear x%g", r.factor); return buf;
        case RopeScaling::Llama3: std::snprintf(buf, sizeof buf, "llama3 x%g", r.factor); return buf;
    }
    return "none";
}

ModelConfig applyOverrides(ModelConfig c, const ConfigOverrides& o) {
    bool changed = false;
    auto set = [&](auto& field, const auto& opt) {
        if (opt && field != *opt) {
            field = *opt;
            changed = true;
        }
    };
    set(c.d_model, o.d_model);
    set(c.n_layers, o.n_layers);
    set(c.n_q_heads, o.n_q_heads);
    set(c.n_kv_heads, o.n_kv_heads);
    set(c.head_dim, o.head_dim);
    set(c.ffn_dim, o.ffn_dim);
    set(c.vocab_size, o.vocab_size);
    set(c.max_seq, o.max_seq);
    set(c.rope_theta, o.rope_theta);
    set(c.norm_eps, o.norm_eps);
    set(c.weight_dtype, o.weight_dtype);
    set(c.embed_dtype, o.weight_dtype);
    set(c.kv_dtype, o.kv_dtype);
    if (changed && c.name.find(" (modified)") == std::string::npos) c.name += " (modified)";
    return c;
}

Status RunShape::validate(const ModelConfig& cfg) const {
    if (batch <= 0) return invalid("batch must be positive (got " + num(batch) + ")");
    if (prompt_len <= 0) return invalid("sequence length must be positive (got " + num(prompt_len) + ")");
    if (decode_steps < 0) return invalid("decode steps cannot be negative (got " + num(decode_steps) + ")");
    if (batch > (int64_t{1} << 20) || prompt_len > (int64_t{1} << 31) || decode_steps > (int64_t{1} << 31))
        return invalid("batch or sequence length is too large");
    if (totalTokens() > cfg.max_seq)
        return invalid("sequence length (" + num(prompt_len) + ") + decode steps (" + num(decode_steps) +
                       ") exceeds the model's max_seq (" + num(cfg.max_seq) + "); raise max_seq to go further");
    return Status::ok();
}

}  // namespace gqa
