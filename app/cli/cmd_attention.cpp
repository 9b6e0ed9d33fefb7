// gqa-lab-cli attention: the attention op on NumPy arrays.
#include <iostream>

#include "cli_common.h"
#include "gqa/memory_model.h"
#include "gqa/npy.h"

namespace gqa::cli {
namespace {

struct AttentionArgs {
    std::string q, k, v, out, probs;
    bool causal = false;
    int64_t window = 0;
    std::string backend = "cpu";
    std::string kv_dtype = "fp32";
};

std::string shapeStr(const std::vector<int64_t>& s) {
    std::string r = "(";
    for (size_t i = 0; i < s.size(); ++i) r += std::to_string(s[i]) + (i + 1 < s.size() ? ", " : "");
    return r + ")";
}

int runAttention(const AttentionArgs& a) {
    auto q = readNpy(a.q);
    if (!q) return reportError(q.error());
    auto k = readNpy(a.k);
    if (!k) return reportError(k.error());
    auto v = readNpy(a.v);
    if (!v) return reportError(v.error());
    auto bad = [](std::string m) { return reportError(makeError(ErrorCode::InvalidArgument, std::move(m))); };
    if (q->shape.size() != 4) return bad(a.q + ": q must have shape (B, Hq, Tq, D), got " + shapeStr(q->shape));
    if (k->shape.size() != 4) return bad(a.k + ": k must have shape (B, Hkv, Tk, D), got " + shapeStr(k->shape));
    if (v->shape != k->shape)
        return bad("v " + shapeStr(v->shape) + " must have the same shape as k " + shapeStr(k->shape));
    AttentionShape s;
    s.batch = q->shape[0];
    s.n_q_heads = q->shape[1];
    s.q_len = q->shape[2];
    s.head_dim = q->shape[3];
    s.n_kv_heads = k->shape[1];
    s.kv_len = k->shape[2];
    s.causal = a.causal;
    s.window = a.window;
    if (a.window < 0) return bad("--window must be >= 0");
    if (a.window > 0 && !a.causal) return bad("--window needs --causal (query i sees keys i - W < j <= i)");
    if (k->shape[0] != s.batch)
        return bad("batch of q (" + std::to_string(s.batch) + ") and k (" + std::to_string(k->shape[0]) + ") differ");
    if (k->shape[3] != s.head_dim)
        return bad("head_dim of q (" + std::to_string(s.head_dim) + ") and k (" + std::to_string(k->shape[3]) +
                   ") differ");
    if (auto st = s.validate(); !st) return reportError(st.error());
    auto backend = openBackend(a.backend);
    if (!backend) return reportError(backend.error());
    const auto kv_t = parseDType(a.kv_dtype);
    if (!kv_t) return bad("--kv-dtype must be fp32, fp16 or bf16 (got '" + a.kv_dtype + "')");
    // Predict what this command adds to the arrays already read (the output, the probabilities if asked, K/V
    // in a 16-bit cache) before allocating it.
    {
        const int64_t probs_bytes = a.probs.empty() ? 0 : s.batch * s.n_q_heads * s.q_len * s.kv_len * 4;
        const int64_t cache_bytes = *kv_t == DType::F32 ? 0 : static_cast<int64_t>(k->data.size()) * 2 * 2;
        const int64_t needed = static_cast<int64_t>(q->data.size()) * 4 + probs_bytes + cache_bytes;
        const int64_t avail = (*backend)->deviceInfo().available_bytes;
        if (avail > 0 && needed > static_cast<int64_t>(static_cast<double>(avail) * 0.9))
            return reportError(makeError(ErrorCode::OutOfMemory,
                                         "this attention needs " + formatBytes(needed) + " more (output" +
                                             std::string(a.probs.empty() ? "" : ", probabilities") + ") but " +
                                             formatBytes(avail) + " are available" +
                                             (a.probs.empty() ? "" : "; drop --probs to skip the probabilities")));
    }
    // K and V as the backend stores them in a cache of that dtype (values rounded to nearest even).
    std::vector<uint16_t> k16, v16;
    const void* kp = k->data.data();
    const void* vp = v->data.data();
    if (*kv_t != DType::F32) {
        k16.resize(k->data.size());
        v16.resize(v->data.size());
        storeAs(*kv_t, k->data.data(), k16.data(), static_cast<int64_t>(k16.size()));
        storeAs(*kv_t, v->data.data(), v16.data(), static_cast<int64_t>(v16.size()));
        kp = k16.data();
        vp = v16.data();
    }
    std::vector<float> out(q->data.size());
    std::vector<float> probs;
    if (!a.probs.empty()) probs.resize(static_cast<size_t>(s.batch * s.n_q_heads * s.q_len * s.kv_len));
    auto st =
        (*backend)->attention(s, q->data.data(), kp, vp, *kv_t, out.data(), probs.empty() ? nullptr : probs.data());
    if (!st) return reportError(st.error());
    if (auto w = writeNpy(a.out, q->shape, out.data()); !w) return reportError(w.error());
    if (!a.probs.empty())
        if (auto w = writeNpy(a.probs, {s.batch, s.n_q_heads, s.q_len, s.kv_len}, probs.data()); !w)
            return reportError(w.error());
    std::cerr << "attention " << shapeStr(q->shape) << " x " << shapeStr(k->shape) << " (g = " << s.groupSize()
              << (a.causal ? ", causal" : "") << (a.window > 0 ? ", window " + std::to_string(a.window) : std::string())
              << ") on " << (*backend)->name() << " -> " << a.out << "\n";
    return 0;
}

const CommandRegistrar reg("attention", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<AttentionArgs>();
    auto* cmd = app.add_subcommand(
        "attention",
        "Grouped-query attention on .npy arrays: q (B, Hq, Tq, D), k and v (B, Hkv, Tk, D), float32 or float16, "
        "C order; scale 1/sqrt(D). --causal masks bottom-right aligned (query i sees keys <= i + Tk - Tq).");
    cmd->add_option("--q", args->q, "Queries (B, Hq, Tq, D)")->required();
    cmd->add_option("--k", args->k, "Keys (B, Hkv, Tk, D)")->required();
    cmd->add_option("--v", args->v, "Values (B, Hkv, Tk, D)")->required();
    cmd->add_option("--out", args->out, "Output .npy (B, Hq, Tq, D) float32")->required();
    cmd->add_option("--probs", args->probs, "Also write softmax probabilities (B, Hq, Tq, Tk) float32");
    cmd->add_flag("--causal", args->causal, "Causal mask, bottom-right aligned");
    cmd->add_option("--window", args->window,
                    "Sliding window W (with --causal): query i sees keys i + Tk - Tq - W < j <= i + Tk - Tq (0 = none)")
        ->capture_default_str();
    cmd->add_option("--backend", args->backend, "cpu, cuda or auto")->capture_default_str();
    cmd->add_option("--kv-dtype", args->kv_dtype,
                    "Store K and V as fp32, fp16 or bf16 before the op (rounded to nearest even), as a KV cache would")
        ->capture_default_str();
    cmd->callback([args, &exit_code] { exit_code = runAttention(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
