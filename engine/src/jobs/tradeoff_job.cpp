// The MHA -> GQA trade-off as the app and `gqa-lab-cli tradeoff` ask for it: depth and shape chosen by one
// rule, a checkpoint or synthetic weights, the quality text tokenized, one or both conversion methods.
#include <algorithm>
#include <optional>

#include "gqa/convert.h"
#include "gqa/jobs.h"
#include "gqa/tokenizer.h"

namespace gqa {

namespace {

// Bytes of layers (weights and KV cache as stored, beyond the layer-free part of the model) a sweep runs when
// no depth is asked for: every grouping is converted and prefilled, so the sweep's time grows with them. The
// teaching preset and small checkpoints run whole; a big preset runs its first layers.
constexpr int64_t kTradeoffLayerBudgetBytes = int64_t{64} << 20;

std::string num(int64_t v) {
    return std::to_string(v);
}

}  // namespace

int64_t tradeoffLayers(const ModelConfig& cfg, const RunShape& shape, int64_t available_bytes, int64_t max_layers) {
    const int64_t seq = shape.totalTokens();
    ModelConfig no_layers = cfg;
    no_layers.n_layers = 0;
    const int64_t cap_bytes = estimateMemory(no_layers, shape.batch, seq).total_bytes + kTradeoffLayerBudgetBytes;
    int64_t layers = predictFit(cfg, shape.batch, seq, cap_bytes, 1.0).max_layers_that_fit;
    if (available_bytes > 0)
        layers = std::min(layers, predictFit(cfg, shape.batch, seq, available_bytes).max_layers_that_fit);
    if (max_layers > 0) layers = std::min(layers, max_layers);
    return std::clamp<int64_t>(layers, 1, cfg.n_layers);
}

Expected<TradeoffOutcome> tradeoffJob(Backend& backend, const TradeoffJobRequest& job, JobControl* control) {
    auto invalid = [](const std::string& m) { return makeError(ErrorCode::InvalidArgument, m); };
    if (control && control->cancel) return makeError(ErrorCode::Cancelled, "trade-off sweep cancelled");
    TradeoffOutcome out;
    out.quality_source = job.quality_source;
    out.model = job.model;

    TradeoffRequest req;
    req.method = job.method;
    req.weights = job.weights;
    req.seed = job.seed;
    req.attention_iterations = job.attention_iterations;
    req.keep_maps = job.keep_maps;
    req.cancel = control ? &control->cancel : nullptr;
    req.points_done = control ? &control->done : nullptr;
    req.shape = job.shape;
    if (job.max_prompt_len > 0) req.shape.prompt_len = std::min(req.shape.prompt_len, job.max_prompt_len);
    if (job.max_decode_steps > 0)
        req.shape.decode_steps = std::clamp<int64_t>(req.shape.decode_steps, 1, job.max_decode_steps);

    std::optional<Model> weights;  // the synthetic starting model, or the checkpoint's first layers
    const Model* start = nullptr;
    if (job.model) {
        const Model& ckpt = *job.model;
        if (job.from_mha) return invalid("a checkpoint's KV heads can only be merged: --from-mha needs a preset");
        req.config = ckpt.config;
        if (job.full_layers > req.config.n_layers) req.config.n_layers = job.full_layers;
        std::vector<int32_t> tokens = job.quality_tokens;
        if (!job.quality_text.empty()) {
            if (!ckpt.tokenizer) return invalid("the model has no tokenizer");
            tokens = ckpt.tokenizer->encode(job.quality_text, ckpt.tokenizer->addBosByDefault());
        }
        if (!tokens.empty()) {
            if (job.max_quality_tokens > 0 && static_cast<int64_t>(tokens.size()) > job.max_quality_tokens) {
                out.notes.push_back("perplexity of the first " + num(job.max_quality_tokens) + " of " +
                                    num(static_cast<int64_t>(tokens.size())) + " tokens");
                tokens.resize(static_cast<size_t>(job.max_quality_tokens));
            }
            if (tokens.size() < 2) return invalid("a perplexity needs a text of at least 2 tokens");
            req.shape.batch = 1;
            req.shape.prompt_len = static_cast<int64_t>(tokens.size());
            req.prompt_tokens = std::move(tokens);
        }
    } else {
        req.config = job.config;
        if (job.from_mha) req.config.n_kv_heads = req.config.n_q_heads;
        if (!job.quality_tokens.empty() || !job.quality_text.empty())
            return invalid("a quality text needs a checkpoint (synthetic models have no tokenizer)");
    }
    const ModelConfig& full = req.config;
    GQA_TRY(full.validate());
    GQA_TRY(req.shape.validate(full));
    if (!job.model && (job.shape.batch != req.shape.batch || job.shape.prompt_len != req.shape.prompt_len ||
                       job.shape.decode_steps != req.shape.decode_steps))
        out.notes.push_back("batch " + num(req.shape.batch) + ", " + num(req.shape.prompt_len) + "-token prompt + " +
                            num(req.shape.decode_steps) + " decode steps");

    if (job.layers < 0 || job.layers > full.n_layers)
        return invalid("layers (" + num(job.layers) + ") must be between 1 and " + num(full.n_layers));
    const int64_t layers = job.layers > 0
                               ? job.layers
                               : tradeoffLayers(full, req.shape, backend.deviceInfo().available_bytes, job.max_layers);
    req.layers = layers;
    if (layers < full.n_layers)
        out.notes.push_back(num(layers) + " of " + num(full.n_layers) + " layers run" +
                            (job.model ? ", the LM head reading layer " + num(layers) : std::string()) +
                            " (KV-cache bytes count all " + num(full.n_layers) + ")" +
                            (job.layers == 0 ? "; ask for more layers to run more" : ""));
    if (job.model) {
        if (layers > job.model->config.n_layers)
            return invalid("the checkpoint was opened with " + num(job.model->config.n_layers) + " of its layers; " +
                           num(layers) + " asked for");
        if (layers < job.model->config.n_layers) weights = job.model->firstLayers(layers);
        start = weights ? &*weights : job.model.get();
    } else {
        auto built = makeSyntheticModel(full, req.seed, req.weights, layers, req.cancel);
        if (!built) return built.error();
        weights = std::move(built).value();
        start = &*weights;
    }

    int64_t n_points = 0;
    for (int64_t g : full.validKvHeadCounts()) n_points += full.n_kv_heads % g == 0 ? 1 : 0;
    const bool both = job.both_methods && job.model;
    if (control) {
        control->done = 0;
        control->total = (both ? 2 : 1) * n_points;
    }
    auto result = runTradeoff(backend, *start, req);
    if (!result) return result.error();
    out.result = std::move(result).value();
    if (req.keep_maps)
        for (TradeoffPoint& pt : out.result.points) out.maps.push_back(std::move(pt.maps));
    if (both) {
        // The other method, for the comparison the paper makes (quality only: the costs are the same).
        TradeoffRequest other = req;
        other.method = req.method == ConvertMethod::MeanPool ? ConvertMethod::First : ConvertMethod::MeanPool;
        other.keep_maps = false;
        other.attention_iterations = 1;
        auto r2 = runTradeoff(backend, *start, other);
        if (!r2) return r2.error();
        out.other_method = std::move(r2).value();
    }
    return out;
}

Status saveConvertedModel(const Model& model, int64_t n_kv_heads, ConvertMethod method, const std::string& dir) {
    if (n_kv_heads == model.config.n_kv_heads) return saveHfModel(model, dir);
    auto converted = convertKvHeads(model, n_kv_heads, method);
    if (!converted) return converted.error();
    return saveHfModel(*converted, dir);
}

}  // namespace gqa
