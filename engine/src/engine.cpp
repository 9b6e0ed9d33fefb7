#include "gqa/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace gqa {

namespace {

std::string cacheFile() {
    std::string dir;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
        dir = x;
    else if (const char* h = std::getenv("HOME"); h && *h)
        dir = std::string(h) + "/.cache";
    else
        return {};
    return dir + "/gqa-lab-ceilings.tsv";
}

std::string utcText(int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

// Disk cache of measured ceilings, one line per measurement: key \t bytes/s \t flops/s \t unix time. The newest
// line of a key wins; damaged lines are skipped.
bool loadCached(const std::string& device, Ceilings& c) {
    const auto path = cacheFile();
    if (path.empty() || std::getenv("GQA_NO_CEILING_CACHE")) return false;
    std::ifstream f(path);
    std::string line;
    bool found = false;
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        std::string name, bw, fl, when;
        if (std::getline(ss, name, '\t') && std::getline(ss, bw, '\t') && std::getline(ss, fl, '\t') &&
            std::getline(ss, when, '\t') && name == device) {
            try {
                Ceilings k;
                k.mem_bw_bytes_per_s = std::stod(bw);
                k.gemm_flops_per_s = std::stod(fl);
                k.measured_on = utcText(std::stoll(when));
                if (!(k.mem_bw_bytes_per_s > 0 && k.gemm_flops_per_s > 0)) continue;
                k.note = "cached in " + path;
                c = k;
                found = true;
            } catch (...) {
                continue;  // a damaged line is skipped
            }
        }
    }
    return found;
}

void storeCached(const std::string& device, const Ceilings& c, int64_t when) {
    const auto path = cacheFile();
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    std::ofstream f(path, std::ios::app);
    if (f) f << device << '\t' << c.mem_bw_bytes_per_s << '\t' << c.gemm_flops_per_s << '\t' << when << '\n';
}

void addCosts(PhaseProfile& ph, const ModelConfig& c, int64_t layers, int64_t batch, int64_t q_len, int64_t kv_len,
              double wb, const Ceilings& ceil) {
    const auto costs = modelOpCosts(c, layers, batch, q_len, kv_len, wb, ceil);
    for (int i = 0; i < kNumOps; ++i) {
        auto& op = ph.ops[static_cast<size_t>(i)];
        op.op = static_cast<Op>(i);
        op.flops += costs.cost[static_cast<size_t>(i)].flops;
        op.bytes += costs.cost[static_cast<size_t>(i)].bytes;
        const double ms = costs.roofline_ms[static_cast<size_t>(i)];
        op.predicted_ms += ms;
        ph.predicted_ms += ms;
    }
}

// The median over repeats of every timing of a phase, with its spread; predictions and costs are the same in
// every run.
PhaseProfile medianProfile(const std::vector<PhaseProfile>& runs) {
    if (runs.empty()) return {};
    PhaseProfile m = runs.front();
    std::vector<double> v;
    auto stats = [&](auto get) {
        v.clear();
        for (const auto& r : runs) v.push_back(get(r));
        return summarize(v);
    };
    m.total = stats([](const PhaseProfile& r) { return r.total_ms; });
    m.total_ms = m.total.median_ms;
    m.lm_head_ms = stats([](const PhaseProfile& r) { return r.lm_head_ms; }).median_ms;
    for (int i = 0; i < kNumOps; ++i) {
        auto& op = m.ops[static_cast<size_t>(i)];
        op.measured = stats([i](const PhaseProfile& r) { return r.ops[static_cast<size_t>(i)].measured_ms; });
        op.measured_ms = op.measured.median_ms;
    }
    m.layer_total.assign(m.layer_ms.size(), TimingStats{});
    for (size_t l = 0; l < m.layer_ms.size(); ++l) {
        for (int i = 0; i < kNumOps; ++i)
            m.layer_ms[l][static_cast<size_t>(i)] =
                stats([&](const PhaseProfile& r) {
                    return l < r.layer_ms.size() ? r.layer_ms[l][static_cast<size_t>(i)] : 0.0;
                }).median_ms;
        m.layer_total[l] = stats([&](const PhaseProfile& r) {
            double sum = 0.0;
            if (l < r.layer_ms.size())
                for (double v : r.layer_ms[l]) sum += v;
            return sum;
        });
    }
    return m;
}

void addTimes(PhaseProfile& ph, const StepOutput& s) {
    if (ph.layer_ms.size() < s.layer_ms.size()) ph.layer_ms.resize(s.layer_ms.size(), OpTimes{});
    for (size_t l = 0; l < s.layer_ms.size(); ++l)
        for (int i = 0; i < kNumOps; ++i) {
            ph.layer_ms[l][static_cast<size_t>(i)] += s.layer_ms[l][static_cast<size_t>(i)];
            ph.ops[static_cast<size_t>(i)].measured_ms += s.layer_ms[l][static_cast<size_t>(i)];
        }
    ph.ops[static_cast<size_t>(Op::Norm)].measured_ms += s.final_norm_ms;
    ph.total_ms += s.total_ms;
    ph.lm_head_ms += s.lm_head_ms;
}

}  // namespace

Expected<Ceilings> cachedCeilings(Backend& backend) {
    static std::mutex mu;
    static std::map<std::string, Ceilings> cache;
    // The key carries the measurement method's version: older cached numbers are not reused.
    const std::string key = "v3:" + backend.name() + ":" + backend.deviceInfo().name;
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) {
        Ceilings c = it->second;
        c.measured_now = false;  // measured earlier in this process
        return c;
    }
    Ceilings c;
    if (!loadCached(key, c)) {
        auto m = backend.measureCeilings();
        if (!m) return m.error();
        c = *m;
        const auto now = static_cast<int64_t>(std::time(nullptr));
        c.measured_on = utcText(now);
        c.measured_now = true;
        storeCached(key, c, now);
    }
    cache[key] = c;
    return c;
}

Expected<LayerPlan> plannedLayers(Backend& backend, const RunRequest& req) {
    return planLayers(req, backend.deviceInfo());
}

Expected<LayerPlan> planLayers(const RunRequest& req, const DeviceInfo& dev) {
    const ModelConfig& cfg = req.config;
    GQA_TRY(cfg.validate());
    GQA_TRY(req.shape.validate(cfg));
    if (req.layers < 0 || req.layers > cfg.n_layers)
        return makeError(ErrorCode::InvalidArgument, "layers to run (" + std::to_string(req.layers) +
                                                         ") must be between 1 and the model's " +
                                                         std::to_string(cfg.n_layers));
    // Depth: what was asked, or as many layers as fit — predicted before anything is allocated.
    ModelConfig run_cfg = cfg;
    run_cfg.n_layers = req.layers > 0 ? req.layers : cfg.n_layers;
    const int64_t available =
        req.memory_limit_bytes > 0 ? std::min(req.memory_limit_bytes, dev.available_bytes) : dev.available_bytes;
    const auto fit = predictFit(run_cfg, req.shape.batch, req.shape.totalTokens(), available);
    LayerPlan plan;
    plan.layers = run_cfg.n_layers;
    if (!fit.fits) {
        if (!req.fit_layers || fit.max_layers_that_fit < 1)
            return makeError(ErrorCode::OutOfMemory, "predicted not to fit on " + dev.name + ": " + fit.message);
        plan.note = "ran " + std::to_string(fit.max_layers_that_fit) + " of " + std::to_string(run_cfg.n_layers) +
                    " layers: " + fit.message;
        plan.layers = fit.max_layers_that_fit;
    } else if (run_cfg.n_layers < cfg.n_layers) {
        plan.note = "ran " + std::to_string(run_cfg.n_layers) + " of " + std::to_string(cfg.n_layers) +
                    " layers (as requested); memory and latency predictions cover the whole model";
    }
    return plan;
}

Expected<RunResult> runModel(Backend& backend, const RunRequest& req) {
    // Validates the config, the shape and the requested depth, and predicts the fit.
    auto plan = plannedLayers(backend, req);
    if (!plan) return plan.error();
    const ModelConfig& cfg = req.config;
    const int64_t B = req.shape.batch, T = req.shape.prompt_len, steps = req.shape.decode_steps;
    const int64_t seq = req.shape.totalTokens();
    const int64_t V = cfg.vocab_size;
    RunResult res;
    res.config = cfg;
    res.shape = req.shape;
    res.backend = backend.name();
    res.device = backend.deviceInfo();
    res.memory = estimateMemory(cfg, B, seq);

    ModelConfig run_cfg = cfg;
    run_cfg.n_layers = plan->layers;
    if (!plan->note.empty()) res.notes.push_back(plan->note);
    for (int64_t l : req.prompt_maps.layers)
        if (l < 0 || l >= run_cfg.n_layers)
            return makeError(ErrorCode::InvalidArgument, "map layer " + std::to_string(l) + " is outside the " +
                                                             std::to_string(run_cfg.n_layers) + " layers run");
    res.layers_run = run_cfg.n_layers;
    res.memory_run = estimateMemory(run_cfg, B, seq);

    // The prompt: given ids (one row for every sequence, or one per sequence) or synthetic ones.
    if (!req.prompt_tokens.empty()) {
        const auto n = static_cast<int64_t>(req.prompt_tokens.size());
        if (n != T && n != B * T)
            return makeError(ErrorCode::InvalidArgument, "the prompt holds " + std::to_string(n) +
                                                             " tokens but the run's prompt length is " +
                                                             std::to_string(T));
        for (int32_t id : req.prompt_tokens)
            if (id < 0 || id >= V)
                return makeError(ErrorCode::InvalidArgument, "prompt token id " + std::to_string(id) +
                                                                 " is outside the vocabulary of " + std::to_string(V));
        for (int64_t b = 0; b < B; ++b)
            res.prompt_tokens.insert(res.prompt_tokens.end(), req.prompt_tokens.begin() + (n == T ? 0 : b * T),
                                     req.prompt_tokens.begin() + (n == T ? 0 : b * T) + T);
    } else {
        res.prompt_tokens = makeTokens(B, T, V, req.seed);
    }

    if (req.ceilings && req.ceilings->mem_bw_bytes_per_s > 0 && req.ceilings->gemm_flops_per_s > 0) {
        res.ceilings = *req.ceilings;
    } else {
        auto ceil = cachedCeilings(backend);
        if (!ceil) return ceil.error();
        res.ceilings = *ceil;
    }

    // The model: the caller's (its first layers when fewer are run) or a synthetic one built now.
    Model model;
    if (req.model) {
        if (req.model->config.n_layers < run_cfg.n_layers)
            return makeError(ErrorCode::InvalidArgument, "the model holds " +
                                                             std::to_string(req.model->config.n_layers) + " layers; " +
                                                             std::to_string(run_cfg.n_layers) + " requested");
        model = req.model->firstLayers(run_cfg.n_layers);
    } else {
        auto built = makeSyntheticModel(run_cfg, req.seed, req.weights, run_cfg.n_layers, req.cancel);
        if (!built) return built.error();
        model = std::move(*built);
    }
    res.head_roles = model.head_roles;
    if (res.head_roles.empty())
        res.head_roles.assign(static_cast<size_t>(run_cfg.n_layers),
                              std::vector<HeadRole>(static_cast<size_t>(cfg.n_q_heads), HeadRole::Content));
    auto inst = backend.createModel(model, B, seq);
    if (!inst) return inst.error();
    res.allocated = (*inst)->allocation();

    const double wb = bytesPerValue(cfg.weight_dtype);
    const auto& eos = cfg.eos_token_ids;

    // One measured run: prefill + decode from an empty cache. The first run keeps its outputs (maps, tokens,
    // logits) and reports progress; repeats only time (every run computes the same thing).
    auto oneRun = [&](bool first, PhaseProfile& pre, PhaseProfile& dec) -> Status {
        (*inst)->reset();
        StepRequest sreq;
        sreq.cancel = req.cancel;
        sreq.layers_done = first ? req.layers_done : nullptr;
        sreq.logits = LogitsMode::Last;
        Sampler sampler(req.sampling);
        std::vector<std::vector<int32_t>> generated(static_cast<size_t>(B));
        std::vector<int32_t> next(static_cast<size_t>(B));
        std::vector<bool> ended(static_cast<size_t>(B), false);
        auto sampleNext = [&](const StepOutput& out) {
            if (first) {
                res.next_logits = out.logits;
                const double lse = logSumExp(out.logits.data(), V);  // sequence 0
                auto& top = res.step_top.emplace_back();
                for (int32_t id : topK(out.logits.data(), V, 10))
                    top.emplace_back(id, std::exp(static_cast<double>(out.logits[static_cast<size_t>(id)]) - lse));
            }
            for (int64_t b = 0; b < B; ++b) next[static_cast<size_t>(b)] = sampler.next(out.logits.data() + b * V, V);
        };
        {
            if (first) sreq.maps = req.prompt_maps;
            StepOutput out;
            GQA_TRY((*inst)->prefill(res.prompt_tokens.data(), T, sreq, out));
            addTimes(pre, out);
            addCosts(pre, run_cfg, run_cfg.n_layers, B, T, T, wb, res.ceilings);
            if (first) {
                res.prompt_maps = std::move(out.maps);
                res.final_hidden.resize(static_cast<size_t>(B * cfg.d_model));
                for (int64_t b = 0; b < B; ++b)
                    std::copy_n(out.hidden.begin() + ((b * T + T - 1) * cfg.d_model), cfg.d_model,
                                res.final_hidden.begin() + b * cfg.d_model);
            }
            sampleNext(out);
        }
        // Decode, one token per sequence per step: each step feeds the token sampled from the previous logits.
        sreq.maps = first ? req.decode_maps : MapRequest{};
        int64_t steps_run = 0;
        for (int64_t s = 0; s < steps; ++s) {
            for (int64_t b = 0; b < B; ++b) {
                const int32_t id = next[static_cast<size_t>(b)];
                if (!ended[static_cast<size_t>(b)]) generated[static_cast<size_t>(b)].push_back(id);
                if (std::find(eos.begin(), eos.end(), id) != eos.end()) ended[static_cast<size_t>(b)] = true;
            }
            if (first && req.on_token) req.on_token(s, next);
            if (req.stop_at_eos && !eos.empty() && std::all_of(ended.begin(), ended.end(), [](bool e) { return e; }))
                break;
            StepOutput out;
            GQA_TRY((*inst)->decode(next.data(), sreq, out));
            addTimes(dec, out);
            addCosts(dec, run_cfg, run_cfg.n_layers, B, 1, T + s + 1, wb, res.ceilings);
            if (first) {
                if (!req.decode_maps.empty()) res.decode_maps.push_back(std::move(out.maps));
                res.final_hidden = std::move(out.hidden);
            }
            sampleNext(out);
            ++steps_run;
        }
        if (first) {
            res.generated = std::move(generated);
            res.decode_steps_run = steps_run;
        }
        return Status::ok();
    };

    Repeater repeater(req.repeat);
    std::vector<PhaseProfile> pre_runs, dec_runs;
    const LoadSample load0 = sampleLoad();
    bool first = true;
    while (repeater.keepGoing()) {
        PhaseProfile pre, dec;
        GQA_TRY(oneRun(first, pre, dec));
        first = false;
        const size_t before = repeater.samples().size();
        repeater.add(pre.total_ms + dec.total_ms);
        if (repeater.samples().size() > before) {
            pre_runs.push_back(std::move(pre));
            dec_runs.push_back(std::move(dec));
        }
    }
    if (const std::string busy = busyNote(load0, sampleLoad(), res.device.threads); !busy.empty())
        res.notes.push_back(busy);
    res.repeats = static_cast<int>(pre_runs.size());
    res.prefill = medianProfile(pre_runs);
    res.decode = medianProfile(dec_runs);
    res.prefill.tokens_per_s = static_cast<double>(B * T) / (res.prefill.total_ms * 1e-3);
    if (res.decode_steps_run > 0)
        res.decode.tokens_per_s = static_cast<double>(B * res.decode_steps_run) / (res.decode.total_ms * 1e-3);
    return res;
}

}  // namespace gqa
