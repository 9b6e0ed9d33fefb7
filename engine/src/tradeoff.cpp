#include "gqa/tradeoff.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "gqa/jobs.h"
#include "gqa/memory_model.h"
#include "gqa/sampling.h"

namespace gqa {

namespace {

Error invalid(std::string msg) {
    return makeError(ErrorCode::InvalidArgument, std::move(msg));
}
std::string num(int64_t v) {
    return std::to_string(v);
}

// Everything the sweep measures by running one grouping's model.
struct RunMeasure {
    StepOutput prefill;  // captured prompt: per-layer outputs, maps and logits (B, T, vocab)
    double decode_tokens_per_s = 0.0;
};

// exp(mean NLL) over every sequence's positions 1 .. T-1. logits: (B, T, vocab); tokens: (B, T).
double promptPerplexity(const std::vector<float>& logits, const std::vector<int32_t>& tokens, int64_t B, int64_t T,
                        int64_t vocab) {
    if (T < 2) return std::numeric_limits<double>::quiet_NaN();
    double nll = 0.0;
    for (int64_t b = 0; b < B; ++b) {
        const std::vector<float> seq(logits.begin() + b * T * vocab, logits.begin() + (b + 1) * T * vocab);
        const std::vector<int32_t> ids(tokens.begin() + b * T, tokens.begin() + (b + 1) * T);
        nll += perplexityOf(seq, ids, vocab).mean_nll;
    }
    return std::exp(nll / static_cast<double>(B));
}

// Mean over the B * T positions of KL(base || point) of the next-token softmax, nats. logits: (B, T, vocab).
double meanNextTokenKl(const std::vector<float>& base, const std::vector<float>& point, int64_t positions,
                       int64_t vocab) {
    if (positions <= 0) return 0.0;
    double sum = 0.0;
    for (int64_t i = 0; i < positions; ++i)
        sum += klDivergence(base.data() + i * vocab, point.data() + i * vocab, vocab);
    return sum / static_cast<double>(positions);
}

// prompt: (B, T), decode: (B, S) row-major.
Expected<RunMeasure> measureRun(Backend& backend, const Model& w, const RunShape& shape,
                                const std::vector<int32_t>& prompt, const std::vector<int32_t>& decode) {
    const int64_t B = shape.batch, T = shape.prompt_len, S = shape.decode_steps;
    auto inst = backend.createModel(w, B, shape.totalTokens());
    if (!inst) return inst.error();
    ModelInstance& m = **inst;
    RunMeasure r;
    StepRequest capture = qualityCaptureRequest(static_cast<int64_t>(w.layers.size()));
    capture.logits = LogitsMode::All;  // every position's next-token distribution: perplexity and KL
    GQA_TRY(m.prefill(prompt.data(), T, capture, r.prefill));
    // The first decode step warms up (first touch of the decode buffers) and is not timed, unless it is
    // the only one.
    const int64_t warmup = S > 1 ? 1 : 0;
    const StepRequest plain;
    StepOutput out;
    std::vector<int32_t> step(static_cast<size_t>(B));  // (B)
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < S; ++s) {
        if (s == warmup) t0 = std::chrono::steady_clock::now();
        for (int64_t b = 0; b < B; ++b) step[static_cast<size_t>(b)] = decode[static_cast<size_t>(b * S + s)];
        GQA_TRY(m.decode(step.data(), plain, out));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (S > 0 && seconds > 0.0) r.decode_tokens_per_s = static_cast<double>(B * (S - warmup)) / seconds;
    return r;
}

// The base capture and one converted capture are held together: per layer the maps (B, Hq, T, T), the
// attention output (B, T, Hq*D) and the hidden state (B, T, d), fp32, and the logits (B, T, vocab). The maps
// grow as T^2.
Status checkCaptureFits(Backend& backend, const ModelConfig& cfg, int64_t layers, const RunShape& shape) {
    const int64_t B = shape.batch, T = shape.prompt_len;
    const double capture_bytes =
        2.0 * static_cast<double>(B) * static_cast<double>(T) *
        (static_cast<double>(layers) *
             static_cast<double>(cfg.n_q_heads * T + cfg.n_q_heads * cfg.head_dim + cfg.d_model) +
         static_cast<double>(cfg.vocab_size)) *
        4.0;
    const int64_t available = backend.deviceInfo().available_bytes;
    if (available > 0 && capture_bytes > 0.5 * static_cast<double>(available))
        return makeError(ErrorCode::OutOfMemory,
                         "comparing the attention maps of " + num(layers) + " layers at batch " + num(B) + " and " +
                             num(T) + " prompt tokens needs " + formatBytes(static_cast<int64_t>(capture_bytes)) +
                             " of the " + formatBytes(available) +
                             " available; use a shorter prompt, a smaller batch or fewer layers");
    return Status::ok();
}

}  // namespace

double efficiencyGain(double cost_base, double cost_point, double quality_loss) {
    if (!(quality_loss > 0.0) || !std::isfinite(quality_loss)) return std::numeric_limits<double>::quiet_NaN();
    return (cost_base - cost_point) / quality_loss;
}

Expected<TradeoffResult> runTradeoff(Backend& backend, const Model& original, const TradeoffRequest& req) {
    const ModelConfig& full = req.config;
    GQA_TRY(full.validate());
    GQA_TRY(req.shape.validate(full));
    const ModelConfig& wc = original.config;
    if (wc.d_model != full.d_model || wc.n_q_heads != full.n_q_heads || wc.n_kv_heads != full.n_kv_heads ||
        wc.head_dim != full.head_dim || wc.ffn_dim != full.ffn_dim || wc.kv_dtype != full.kv_dtype)
        return invalid("the weights do not match the requested model config");
    const int64_t layers_run = static_cast<int64_t>(original.layers.size());
    if (layers_run <= 0 || layers_run > full.n_layers)
        return invalid("the weights hold " + num(layers_run) + " layers; the model has " + num(full.n_layers));
    if (req.attention_iterations <= 0)
        return invalid("attention iterations must be positive (got " + num(req.attention_iterations) + ")");

    const RunShape& shape = req.shape;
    const int64_t B = shape.batch, T = shape.prompt_len, S = shape.decode_steps;
    const int64_t context = shape.totalTokens();

    GQA_TRY(checkCaptureFits(backend, full, layers_run, shape));

    TradeoffResult res;
    res.config = full;
    res.layers_run = layers_run;
    res.shape = shape;
    res.method = req.method;
    res.weights = original.mode;
    res.seed = req.seed;
    res.backend = backend.name();
    res.device = backend.deviceInfo();
    if (layers_run < full.n_layers)
        res.notes.push_back("ran " + num(layers_run) + " of " + num(full.n_layers) +
                            " layers: quality and decode tokens/s are for those layers; KV-cache bytes are for "
                            "the full model");

    // Tokens (B, T + S): the prompt both models see, then the decode inputs.
    std::vector<int32_t> all = makeTokens(B, context, original.config.vocab_size, req.seed);
    if (!req.prompt_tokens.empty()) {
        if (static_cast<int64_t>(req.prompt_tokens.size()) != B * T)
            return invalid("the prompt holds " + std::to_string(req.prompt_tokens.size()) +
                           " tokens; batch x prompt "
                           "length is " +
                           num(B * T));
        for (int64_t b = 0; b < B; ++b) std::copy_n(req.prompt_tokens.begin() + b * T, T, all.begin() + b * context);
    }
    std::vector<int32_t> prompt(static_cast<size_t>(B * T)), decode(static_cast<size_t>(B * S));
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t t = 0; t < T; ++t)
            prompt[static_cast<size_t>(b * T + t)] = all[static_cast<size_t>(b * context + t)];
        for (int64_t s = 0; s < S; ++s)
            decode[static_cast<size_t>(b * S + s)] = all[static_cast<size_t>(b * context + T + s)];
    }

    auto cancelled = [&] { return req.cancel && req.cancel->load(); };
    auto efficiency = [&](TradeoffPoint& p) -> Status {
        ModelConfig cfg = full;
        cfg.n_kv_heads = p.kv_heads;
        p.group_size = cfg.groupSize();
        p.kv_cache_bytes = estimateMemory(cfg, B, context).kv_cache_bytes;
        AttentionShape as;
        as.batch = B;
        as.n_q_heads = cfg.n_q_heads;
        as.n_kv_heads = p.kv_heads;
        as.q_len = 1;
        as.kv_len = context;
        as.head_dim = cfg.head_dim;
        as.causal = false;  // one query row sees the whole cache
        auto t = backend.timeAttention(as, cfg.kv_dtype, req.attention_iterations);
        if (!t) return t.error();
        p.decode_attention = *t;
        p.decode_attention_ms = t->median_ms;
        return Status::ok();
    };

    // The base point: the starting model against itself.
    TradeoffPoint base;
    base.kv_heads = full.n_kv_heads;
    GQA_TRY(efficiency(base));
    auto base_run = measureRun(backend, original, shape, prompt, decode);
    if (!base_run) return base_run.error();
    base.decode_tokens_per_s = base_run->decode_tokens_per_s;
    {
        auto q = compareOutputs(base_run->prefill, base_run->prefill);
        if (!q) return q.error();
        base.quality = std::move(*q);
    }
    const int64_t vocab = original.config.vocab_size;
    base.prompt_perplexity = promptPerplexity(base_run->prefill.logits, prompt, B, T, vocab);
    base.next_token_kl = 0.0;
    if (req.keep_maps) base.maps = base_run->prefill.maps;
    if (req.points_done) req.points_done->fetch_add(1);

    for (int64_t g : full.validKvHeadCounts()) {
        if (full.n_kv_heads % g != 0) continue;  // only coarser groupings of the starting model
        if (g == full.n_kv_heads) {
            res.points.push_back(base);
            continue;
        }
        if (cancelled()) return makeError(ErrorCode::Cancelled, "trade-off sweep cancelled");
        TradeoffPoint p;
        p.kv_heads = g;
        GQA_TRY(efficiency(p));
        auto converted = convertKvHeads(original, g, req.method);
        if (!converted) return converted.error();
        auto run = measureRun(backend, *converted, shape, prompt, decode);
        if (!run) return run.error();
        p.decode_tokens_per_s = run->decode_tokens_per_s;
        auto q = compareOutputs(run->prefill, base_run->prefill);
        if (!q) return q.error();
        p.quality = std::move(*q);
        p.prompt_perplexity = promptPerplexity(run->prefill.logits, prompt, B, T, vocab);
        p.next_token_kl = meanNextTokenKl(base_run->prefill.logits, run->prefill.logits, B * T, vocab);
        if (req.keep_maps) p.maps = std::move(run->prefill.maps);
        res.points.push_back(std::move(p));
        if (req.points_done) req.points_done->fetch_add(1);
    }

    for (TradeoffPoint& p : res.points) {
        p.output_rel_error = p.quality.final_hidden_rel_error;
        p.memory_gain = efficiencyGain(static_cast<double>(base.kv_cache_bytes), static_cast<double>(p.kv_cache_bytes),
                                       p.output_rel_error);
        p.latency_gain = efficiencyGain(base.decode_attention_ms, p.decode_attention_ms, p.output_rel_error);
    }
    return res;
}

Expected<TradeoffResult> runTradeoff(Backend& backend, const TradeoffRequest& req) {
    GQA_TRY(req.config.validate());
    GQA_TRY(req.shape.validate(req.config));
    if (req.layers < 0 || req.layers > req.config.n_layers)
        return invalid("layers (" + num(req.layers) + ") must be between 1 and the model's " +
                       num(req.config.n_layers) + " (0 = all)");
    const int64_t layers = req.layers == 0 ? req.config.n_layers : req.layers;

    GQA_TRY(checkCaptureFits(backend, req.config, layers, req.shape));
    // Refuse before allocating: the sweep holds the starting weights, one converted copy and one model
    // instance at a time.
    const DeviceInfo dev = backend.deviceInfo();
    if (dev.available_bytes > 0) {
        ModelConfig run_cfg = req.config;
        run_cfg.n_layers = layers;
        const FitReport fit = predictFit(run_cfg, req.shape.batch, req.shape.totalTokens(), dev.available_bytes);
        if (!fit.fits)
            return makeError(ErrorCode::OutOfMemory, fit.message + " (at most " + num(fit.max_layers_that_fit) +
                                                         " layers fit: use fewer layers)");
    }

    auto w = makeSyntheticModel(req.config, req.seed, req.weights, layers);
    if (!w) return w.error();
    return runTradeoff(backend, *w, req);
}

}  // namespace gqa
