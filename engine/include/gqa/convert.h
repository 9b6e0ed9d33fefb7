// Converting a checkpoint to a coarser KV grouping (MHA → GQA → MQA), and measuring what it costs in
// quality. The method is the one of Ainslie et al. (2023), "GQA: Training Generalized Multi-Query
// Transformer Models from Multi-Head Checkpoints": the K and V projection heads of each new group are
// mean-pooled. Keeping the first head of each group is offered as the baseline it is compared with.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gqa/backend.h"
#include "gqa/model.h"
#include "gqa/status.h"

namespace gqa {

enum class ConvertMethod {
    MeanPool,  // new KV head j = mean of old KV heads j*r .. j*r + r - 1 (the paper's method)
    First,     // new KV head j = old KV head j*r
};
const char* convertMethodName(ConvertMethod m);                     // "meanpool", "first"
std::optional<ConvertMethod> parseConvertMethod(std::string_view);  // "meanpool" / "mean" / "first"

// Ok when `new_n_kv_heads` is a valid coarser grouping of `cfg`: positive, at most cfg.n_kv_heads, and
// a divisor of it (so every new group pools the same number r = old / new of old KV heads).
Status validateKvTarget(const ModelConfig& cfg, int64_t new_n_kv_heads);

// Returns `w` with cfg.n_kv_heads = new_n_kv_heads. Only every layer's K and V projections (and their biases)
// are new tensors: the rows of each group of r = old / new KV heads are pooled into one head; Q, O, FFN, norms,
// embedding and LM head stay shared with `w`. With r, query head h read old KV head h / g and now reads new
// KV head h / (g r) = (h / g) / r, the group its old KV head was pooled into. Means are taken in double and
// stored in the tensor's own dtype (Q8_0 re-quantized per block). Converting to the current count returns
// an identical model.
Expected<Model> convertKvHeads(const Model& w, int64_t new_n_kv_heads, ConvertMethod method);

// ---- Quality of a converted model against its original, on the same input --------------------------

// ||a - b|| / ||b|| (L2 over all elements, in double). 0 when both are zero; +inf when only b is.
double relativeError(const std::vector<float>& a, const std::vector<float>& b);

// Jensen–Shannon divergence of two distributions of n probabilities, in BITS (log base 2), so it lies in
// [0, 1]: 0 for identical rows, 1 for rows with disjoint support. 0 * log 0 is taken as 0.
double jsDivergenceBits(const float* p, const float* q, int64_t n);

struct ConversionQuality {
    // Per layer l (of the layers run): ||attn_c - attn_o|| / ||attn_o|| over the attention output
    // before the O-projection, (B, T, Hq*D).
    std::vector<double> attn_out_rel_error;
    // Per layer l: the same for the residual stream after layer l, (B, T, d_model).
    std::vector<double> hidden_rel_error;
    // [layer][query head]: JS divergence (bits) of the attention maps, averaged over the query rows of
    // the prompt and over the batch.
    std::vector<std::vector<double>> head_js_bits;
    // The model's output: the final-normed hidden state at every position, (B, T, d_model).
    double final_hidden_rel_error = 0.0;
    // head_js_bits averaged over layers and heads.
    double mean_js_bits = 0.0;
};

// Compares two captured prefills (StepRequest with capture_layers and maps of every layer and head).
// `converted` and `original` must have the same shapes; the error says which does not match.
Expected<ConversionQuality> compareOutputs(const StepOutput& converted, const StepOutput& original);

// The StepRequest compareOutputs needs: per-layer captures and the maps of all heads of `n_layers`.
StepRequest qualityCaptureRequest(int64_t n_layers);

// Prefills `tokens` (B, T) through both models on `backend` and compares them. The two models must
// differ at most in n_kv_heads (and the K/V weights).
Expected<ConversionQuality> measureConversionQuality(Backend& backend, const Model& original, const Model& converted,
                                                     const std::vector<int32_t>& tokens, int64_t batch, int64_t T);

}  // namespace gqa
