// The live run of the app (and `gqa-lab-cli run`): plan, convert a checkpoint when asked, run, score the prompt;
// and one point of the KV-head sweep.
#include <algorithm>

#include "gqa/convert.h"
#include "gqa/jobs.h"

namespace gqa {

Expected<std::shared_ptr<const Model>> LiveModelCache::modelFor(const LiveRunRequest& req) {
    if (!req.model) return req.model;
    std::shared_ptr<const Model> base = req.model;
    if (req.config.n_kv_heads != req.model->config.n_kv_heads) {
        if (m_from != req.model.get() || m_kv != req.config.n_kv_heads || m_method != req.convert_method ||
            !m_converted) {
            m_windowed.reset();
            m_converted.reset();  // the old copy goes before the new one is made
            auto c = convertKvHeads(*req.model, req.config.n_kv_heads, req.convert_method);
            if (!c) return c.error();
            m_converted = std::make_shared<const Model>(std::move(c).value());
            m_from = req.model.get();
            m_kv = req.config.n_kv_heads;
            m_method = req.convert_method;
        }
        base = m_converted;
    }
    const ModelConfig& c = base->config;
    if (c.sliding_window == req.config.sliding_window && c.layer_windows == req.config.layer_windows) return base;
    // Same tensors (shared, nothing copied), the request's windows.
    if (!m_windowed || m_windowed_from != base.get() ||
        m_windowed->config.sliding_window != req.config.sliding_window ||
        m_windowed->config.layer_windows != req.config.layer_windows) {
        auto w = std::make_shared<Model>(*base);
        w->config.sliding_window = req.config.sliding_window;
        w->config.layer_windows = req.config.layer_windows;
        m_windowed = std::move(w);
        m_windowed_from = base.get();
    }
    return m_windowed;
}

Status runLiveJob(Backend& backend, const LiveRunRequest& req, LiveModelCache& cache, JobControl* control,
                  const LiveRunEvents& events) {
    auto cancelled = [&] { return control && control->cancel.load(); };
    auto cancelError = [] { return makeError(ErrorCode::Cancelled, "Cancelled"); };
    if (cancelled()) return cancelError();
    GQA_TRY(req.config.validate());
    GQA_TRY(req.shape.validate(req.config));
    auto ceilings = cachedCeilings(backend);
    if (!ceilings) return ceilings.error();
    RunPlan plan = planRun(req, backend.deviceInfo(), ceilings.value());
    if (control) {
        control->done = 0;
        control->total = plan.progress_total;
    }
    RunRequest run;
    run.prompt_maps = plan.prompt_maps;
    run.decode_maps = plan.decode_maps;
    if (events.on_plan) events.on_plan(std::move(plan));

    auto model = cache.modelFor(req);
    if (!model) return model.error();
    run.config = model.value() ? model.value()->config : req.config;
    run.model = model.value();
    run.prompt_tokens = req.prompt_tokens;
    run.sampling = req.sampling;
    run.shape = req.shape;
    run.layers = req.run_layers;
    run.fit_layers = true;
    run.repeat = req.repeat;
    run.ceilings = ceilings.value();  // known or measured once: the run does not measure again
    run.cancel = control ? &control->cancel : nullptr;
    run.layers_done = control ? &control->done : nullptr;
    run.on_token = events.on_token;
    if (cancelled()) return cancelError();
    auto result = runModel(backend, run);
    if (!result) return result.error();
    const int64_t layers_run = result.value().layers_run;
    if (events.on_result) events.on_result(std::move(result).value());
    if (run.model && req.prompt_tokens.size() >= 2 && !cancelled()) {
        auto score = scorePrompt(backend, *run.model, req.prompt_tokens, layers_run);
        if (score && events.on_prompt_perplexity) events.on_prompt_perplexity(score.value().perplexity.perplexity);
    }
    return Status::ok();
}

Expected<KvSweepPoint> kvSweepPoint(Backend& backend, const LiveRunRequest& base, int64_t n_kv_heads,
                                    JobControl* control) {
    RunRequest req;
    req.config = base.config;
    req.config.n_kv_heads = n_kv_heads;
    req.shape = base.shape;
    req.layers = base.run_layers;
    req.fit_layers = true;
    req.repeat = base.repeat;
    req.cancel = control ? &control->cancel : nullptr;
    auto result = runModel(backend, req);
    if (!result) return result.error();
    const RunResult& r = result.value();
    KvSweepPoint pt;
    pt.n_kv_heads = n_kv_heads;
    pt.group_size = req.config.groupSize();
    pt.layers_run = r.layers_run;
    pt.prefill_ms = r.prefill.total_ms;
    pt.prefill = r.prefill.total;
    const double steps = static_cast<double>(std::max<int64_t>(1, r.decode_steps_run));
    pt.decode_ms_per_token = r.decode.total_ms / steps;
    pt.decode = r.decode.total;
    pt.decode_pred_ms_per_token = r.decode.predicted_ms / steps;
    pt.decode_tokens_per_s = r.decode.tokens_per_s;
    pt.kv_cache_bytes = r.memory.kv_cache_bytes;
    return pt;
}

}  // namespace gqa
