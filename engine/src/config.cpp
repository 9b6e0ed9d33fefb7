#include "gqa/config.h"

#include <cmath>
#include <string>

#include "checked_math.h"

namespace gqa {

namespace {
Error invalid(std::string msg) { return makeError(ErrorCode::InvalidArgument, std::move(msg)); }
std::string num(int64_t v) { return std::to_string(v); }
}  // namespace

const char* weightsModeName(WeightsMode m) { return m == WeightsMode::Structured ? "structured" : "random"; }

Status ModelConfig::validate() const {
    struct Field { const char* name; int64_t value; };
    const Field positive[] = {{"d_model", d_model},       {"n_layers", n_layers}, {"n_q_heads", n_q_heads},
                              {"n_kv_heads", n_kv_heads}, {"head_dim", head_dim}, {"ffn_dim", ffn_dim},
                              {"vocab_size", vocab_size}, {"max_seq", max_seq}};
    for (const auto& f : positive)
        if (f.value <= 0) return invalid(std::string(f.name) + " must be positive (got " + num(f.value) + ")");
    if (n_kv_heads > n_q_heads)
        return invalid("n_kv_heads (" + num(n_kv_heads) + ") cannot exceed n_q_heads (" + num(n_q_heads) +
                       "): each KV head is shared by at least one query head");
    if (n_q_heads % n_kv_heads != 0)
        return invalid("n_q_heads (" + num(n_q_heads) + ") is not a multiple of n_kv_heads (" + num(n_kv_heads) +
                       ")");
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
        if (f.value > (int64_t{1} << 31))
            return invalid(std::string(f.name) + " (" + num(f.value) + ") is too large");
    const int64_t b = static_cast<int64_t>(bytesPerElement(dtype));
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
    set(c.dtype, o.dtype);
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
