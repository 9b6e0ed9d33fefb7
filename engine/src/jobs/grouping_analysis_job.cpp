// Per-head statistics and head diversity of the live model and of a coarser grouping of it, on one prompt.
#include <algorithm>

#include "gqa/convert.h"
#include "gqa/jobs.h"

namespace gqa {

int64_t nextCoarserKvHeads(int64_t n) {
    for (int64_t p = 2; p * p <= n; ++p)
        if (n % p == 0) return n / p;
    return 1;  // a prime (or 1): the next coarser grouping is MQA
}

Expected<GroupingAnalysis> groupingAnalysisJob(Backend& backend, const GroupingAnalysisRequest& req,
                                               LiveModelCache& cache, JobControl* control) {
    const LiveRunRequest& live = req.live;
    GQA_TRY(live.config.validate());
    auto cancelled = [&] { return control && control->cancel.load(); };
    GroupingAnalysis out;
    out.method = req.method;
    const int64_t n_kv = live.config.n_kv_heads;
    out.compare_kv_heads = req.compare_kv_heads > 0 ? req.compare_kv_heads : nextCoarserKvHeads(n_kv);
    if (n_kv % out.compare_kv_heads != 0)
        return makeError(ErrorCode::InvalidArgument, "compare KV heads (" + std::to_string(out.compare_kv_heads) +
                                                         ") must divide the live model's " + std::to_string(n_kv));
    if (control) {
        control->done = 0;
        control->total = out.compare_kv_heads == n_kv ? 1 : 2;
    }

    // The tokens: the live prompt (real models) or synthetic ids, capped.
    std::vector<int32_t> tokens = live.prompt_tokens;
    if (tokens.empty()) tokens = makeTokens(1, live.shape.prompt_len, live.config.vocab_size, 1234);
    if (static_cast<int64_t>(tokens.size()) > req.max_tokens) {
        out.notes.push_back("the first " + std::to_string(req.max_tokens) + " of " + std::to_string(tokens.size()) +
                            " prompt tokens analysed");
        tokens.resize(static_cast<size_t>(req.max_tokens));
    }
    const auto T = static_cast<int64_t>(tokens.size());

    // The depth of the live run, and the layers whose maps are measured.
    RunRequest plan_req;
    plan_req.config = live.config;
    plan_req.shape = live.shape;
    plan_req.layers = live.run_layers > 0 ? std::min(live.run_layers, live.config.n_layers) : 0;
    auto plan = plannedLayers(backend, plan_req);
    if (!plan) return plan.error();
    const int64_t layers = std::max<int64_t>(1, plan->layers);
    AnalyzeOptions opt;
    const int64_t bytes_per_layer = T * T * live.config.n_q_heads * 4;
    if (bytes_per_layer * layers <= req.maps_budget_bytes) {
        for (int64_t l = 0; l < layers; ++l) opt.layers.push_back(l);
    } else {
        opt.layers.push_back(std::clamp<int64_t>(live.map_layer, 0, layers - 1));
        out.notes.push_back("layer " + std::to_string(opt.layers.front()) + " only: the maps of all " +
                            std::to_string(layers) + " layers would not fit the analysis budget");
    }

    // The live model: the checkpoint at the live KV-head count (through the run's conversion cache), or the
    // synthetic model of the live config.
    Model original;
    auto ckpt = cache.modelFor(live);
    if (!ckpt) return ckpt.error();
    if (ckpt.value()) {
        original = ckpt.value()->firstLayers(std::min(layers, ckpt.value()->config.n_layers));
    } else {
        ModelConfig cfg = live.config;
        auto built =
            makeSyntheticModel(cfg, 1234, WeightsMode::Structured, layers, control ? &control->cancel : nullptr);
        if (!built) return built.error();
        original = std::move(built).value();
    }
    if (cancelled()) return makeError(ErrorCode::Cancelled, "analysis cancelled");
    auto a = analyzeModel(backend, original, tokens, opt);
    if (!a) return a.error();
    out.original = std::move(a).value();
    if (control) ++control->done;
    if (out.compare_kv_heads == n_kv) {
        out.converted = out.original;
        out.notes.push_back("the model has one KV head already: there is no coarser grouping to compare");
        return out;
    }
    if (cancelled()) return makeError(ErrorCode::Cancelled, "analysis cancelled");
    auto converted = convertKvHeads(original, out.compare_kv_heads, req.method);
    if (!converted) return converted.error();
    auto b = analyzeModel(backend, *converted, tokens, opt);
    if (!b) return b.error();
    out.converted = std::move(b).value();
    if (control) ++control->done;
    return out;
}

}  // namespace gqa
