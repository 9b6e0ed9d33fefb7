#include "engine_worker.h"

#include <algorithm>
#include <exception>
#include <new>

#include "analysis.h"
#include "gqa/convert.h"
#include "gqa/memory_model.h"
#include "gqa/model.h"
#include "gqa/tokenizer.h"
#include "gqa/tradeoff.h"
#include "gqa/weights.h"

namespace gqa::ui {

namespace {

// Every grouping is prefilled twice (quality, then maps), so the sweep's time grows with the bytes of the
// layers it runs: past this many bytes of layers (weights and KV cache as stored, on top of the model's
// fixed part) a big preset sweeps its first layers only. The teaching preset runs whole.
constexpr int64_t kTradeoffLayerBudgetBytes = int64_t{32} << 20;
// A short prompt keeps a sweep to about a second.
constexpr int64_t kTradeoffMaxPrompt = 64;
constexpr int64_t kTradeoffMaxDecode = 4;
// A real model's quality text (prompt or file) is scored up to this many tokens.
constexpr int64_t kTradeoffMaxTextTokens = 512;

// Layers the sweep builds and runs, from the engine's memory model alone: as many as fit the device
// (predictFit), capped at what fits kTradeoffLayerBudgetBytes beyond the layer-free part of the model
// (embedding, LM head, activations), and at the live run's depth. At least one: a model of which not even
// one layer fits is refused by the backend with its own message.
int64_t tradeoffLayers(const ModelConfig& cfg, const RunShape& shape, int64_t device_available_bytes,
                       int64_t run_layers) {
    const int64_t seq = shape.totalTokens();
    ModelConfig no_layers = cfg;
    no_layers.n_layers = 0;
    const int64_t cap_bytes = estimateMemory(no_layers, shape.batch, seq).total_bytes + kTradeoffLayerBudgetBytes;
    int64_t layers = predictFit(cfg, shape.batch, seq, cap_bytes, 1.0).max_layers_that_fit;
    if (device_available_bytes > 0)
        layers = std::min(layers, predictFit(cfg, shape.batch, seq, device_available_bytes).max_layers_that_fit);
    if (run_layers > 0) layers = std::min(layers, run_layers);
    return std::clamp<int64_t>(layers, 1, cfg.n_layers);
}

}  // namespace

EngineWorker::EngineWorker(std::shared_ptr<JobQueue> queue) : m_queue(std::move(queue)) {}

EngineWorker::~EngineWorker() = default;

void EngineWorker::pump() {
    for (;;) {
        bool probe_now = false;
        std::shared_ptr<RunJob> job;
        std::shared_ptr<SweepJob> sweep;
        std::shared_ptr<TradeoffJob> trade;
        std::shared_ptr<LoadJob> load_job;
        std::shared_ptr<SaveJob> save_job;
        {
            std::lock_guard lock(m_queue->mutex);
            if (m_queue->stopping) return;
            probe_now = std::exchange(m_queue->probe_requested, false);
            if (!probe_now) {
                if (m_queue->pending_save) {
                    save_job = std::move(m_queue->pending_save);
                } else if (m_queue->pending_load) {
                    load_job = std::move(m_queue->pending_load);
                    m_queue->running_load = load_job;
                } else if (m_queue->pending_run) {
                    job = std::move(m_queue->pending_run);
                    m_queue->running_run = job;
                    job->running = true;
                } else if (m_queue->pending_tradeoff) {
                    trade = std::move(m_queue->pending_tradeoff);
                    m_queue->running_tradeoff = trade;
                } else if (m_queue->sweep) {
                    sweep = m_queue->sweep;
                }
            }
        }
        if (probe_now) {
            probe();
        } else if (save_job) {
            try {
                save(*save_job);
            } catch (const std::exception& e) {
                emit convertedModelSaveFailed(save_job->id, save_job->params.dir, QString::fromUtf8(e.what()));
            }
        } else if (load_job) {
            try {
                load(*load_job);
            } catch (const std::exception& e) {
                emit modelLoadFailed(load_job->id, load_job->path, QString::fromUtf8(e.what()), false);
            }
            std::lock_guard lock(m_queue->mutex);
            if (m_queue->running_load == load_job) m_queue->running_load.reset();
        } else if (job) {
            // Nothing the engine throws may end the process (it reports errors as values; an allocation the
            // prediction missed is the one thing that can still throw).
            try {
                run(*job);
            } catch (const std::bad_alloc&) {
                emit runFailed(job->id, tr("out of memory: the run needed more than the machine could allocate"), false);
            } catch (const std::exception& e) {
                emit runFailed(job->id, QString::fromUtf8(e.what()), false);
            }
            std::lock_guard lock(m_queue->mutex);
            job->running = false;
            if (m_queue->running_run == job) m_queue->running_run.reset();
        } else if (trade) {
            try {
                tradeoff(*trade);
            } catch (const std::bad_alloc&) {
                emit tradeoffFailed(trade->id, tr("out of memory during the trade-off sweep"), false);
            } catch (const std::exception& e) {
                emit tradeoffFailed(trade->id, QString::fromUtf8(e.what()), false);
            }
            std::lock_guard lock(m_queue->mutex);
            if (m_queue->running_tradeoff == trade) m_queue->running_tradeoff.reset();
        } else if (sweep) {
            try {
                sweepStep(sweep);
            } catch (const std::exception& e) {
                {
                    std::lock_guard lock(m_queue->mutex);
                    if (m_queue->sweep == sweep) m_queue->sweep.reset();
                }
                emit sweepFailed(sweep->id, QString::fromUtf8(e.what()), false);
            }
        } else {
            return;
        }
    }
}

void EngineWorker::probe() {
    QVector<BackendChoice> out;
    for (const BackendAvailability& b : probeBackends()) {
        out.push_back({QString::fromStdString(b.name), b.available, QString::fromStdString(b.device),
                       QString::fromStdString(b.reason)});
    }
    emit backendsAvailable(out);
}

Expected<Backend*> EngineWorker::backendFor(const QString& name) {
    const std::string key = name.toStdString();
    auto it = m_backends.find(key);
    if (it != m_backends.end()) return it->second.get();
    auto created = createBackend(key);
    if (!created) return created.error();
    Backend* raw = created.value().get();
    m_backends.emplace(key, std::move(created.value()));
    return raw;
}

Expected<std::pair<Ceilings, bool>> EngineWorker::ceilingsFor(Backend& backend) {
    if (auto it = m_measured.find(backend.name()); it != m_measured.end()) return std::pair{it->second, true};
    const std::string device = backend.deviceInfo().name;
    {
        std::lock_guard lock(m_queue->mutex);
        if (auto it = m_queue->known_ceilings.find(device); it != m_queue->known_ceilings.end())
            return std::pair{it->second, false};
    }
    auto measured = cachedCeilings(backend);
    if (!measured) return measured.error();
    noteMeasuredCeilings(backend, measured.value());
    return std::pair{measured.value(), true};
}

void EngineWorker::noteMeasuredCeilings(Backend& backend, const Ceilings& c) {
    if (m_measured.count(backend.name())) return;
    m_measured[backend.name()] = c;
    emit ceilingsAvailable(QString::fromStdString(backend.name()), QString::fromStdString(backend.deviceInfo().name), c);
}

void EngineWorker::load(LoadJob& job) {
    auto backend = backendFor(QStringLiteral("cpu"));
    const int64_t available = backend ? backend.value()->deviceInfo().available_bytes : 0;
    auto model = loadModelJob(job.path.toStdString(), available, &job.control);
    if (!model) {
        const bool cancelled = model.error().code == ErrorCode::Cancelled;
        emit modelLoadFailed(job.id, job.path, QString::fromStdString(model.error().message), cancelled);
        return;
    }
    emit modelLoaded(job.id, model.value(), job.path);
}

void EngineWorker::run(RunJob& job) {
    const quint64 id = job.id;
    const RunParams& p = job.params;
    if (job.cancel) {
        emit runFailed(id, tr("Cancelled"), true);
        return;
    }
    if (Status s = p.config.validate(); !s) {
        emit runFailed(id, QString::fromStdString(s.message()), false);
        return;
    }
    if (Status s = p.shape.validate(p.config); !s) {
        emit runFailed(id, QString::fromStdString(s.message()), false);
        return;
    }
    auto backend = backendFor(p.backend);
    if (!backend) {
        emit runFailed(id, QString::fromStdString(backend.error().message), false);
        return;
    }
    Backend& be = *backend.value();
    auto ceilings = ceilingsFor(be);
    if (!ceilings) {
        emit runFailed(id, QString::fromStdString(ceilings.error().message), false);
        return;
    }
    auto analysis = std::make_shared<Analysis>(
        computeAnalysis(p, be.deviceInfo(), ceilings.value().first, ceilings.value().second));
    job.layers_total = analysis->progress_total;
    // A real model at another KV-head count: converted here, live (and kept for the next edit of depth or prompt).
    ModelPtr model = p.model;
    if (model && p.config.n_kv_heads != model->config.n_kv_heads) {
        if (m_convertedFrom != model.get() || m_convertedKv != p.config.n_kv_heads || m_convertedMethod != p.convert_method) {
            auto c = convertKvHeads(*model, p.config.n_kv_heads, p.convert_method);
            if (!c) {
                emit runFailed(id, QString::fromStdString(c.error().message), false);
                return;
            }
            m_converted = std::make_shared<const Model>(std::move(c).value());
            m_convertedFrom = model.get();
            m_convertedKv = p.config.n_kv_heads;
            m_convertedMethod = p.convert_method;
        }
        model = m_converted;
    }
    RunRequest req;
    req.config = model ? model->config : p.config;
    req.model = model;
    req.prompt_tokens = p.prompt_tokens;
    req.sampling = p.sampling;
    req.shape = p.shape;
    req.layers = p.run_layers;
    req.fit_layers = true;
    req.ceilings = ceilings.value().first;  // known or measured once: the run does not measure again
    req.prompt_maps = analysis->prompt_maps;
    req.decode_maps = analysis->decode_maps;
    req.cancel = &job.cancel;
    req.layers_done = &job.layers_done;
    emit analysisAvailable(id, std::move(analysis));

    if (job.cancel) {
        emit runFailed(id, tr("Cancelled"), true);
        return;
    }
    auto result = runModel(be, req);
    if (!result) {
        const bool cancelled = result.error().code == ErrorCode::Cancelled;
        emit runFailed(id, cancelled ? tr("Cancelled") : QString::fromStdString(result.error().message), cancelled);
        return;
    }
    noteMeasuredCeilings(be, result.value().ceilings);
    const int64_t layers_run = result.value().layers_run;
    emit resultAvailable(id, std::make_shared<const RunResult>(std::move(result).value()));
    if (model && p.prompt_tokens.size() >= 2 && !job.cancel) {
        auto score = scorePrompt(be, *model, p.prompt_tokens, layers_run);
        if (score) emit promptScoreAvailable(id, score.value().perplexity.perplexity);
    }
}

void EngineWorker::sweepStep(const std::shared_ptr<SweepJob>& sweep) {
    auto finish = [&] {
        std::lock_guard lock(m_queue->mutex);
        if (m_queue->sweep == sweep) m_queue->sweep.reset();
    };
    const int total = static_cast<int>(sweep->kv_counts.size());
    if (sweep->cancel) {
        finish();
        emit sweepFailed(sweep->id, tr("Sweep cancelled"), true);
        return;
    }
    if (sweep->next >= sweep->kv_counts.size()) {
        finish();
        emit sweepFinished(sweep->id);
        return;
    }
    auto backend = backendFor(sweep->base.backend);
    if (!backend) {
        finish();
        emit sweepFailed(sweep->id, QString::fromStdString(backend.error().message), false);
        return;
    }
    RunRequest req;
    req.config = sweep->base.config;
    req.config.n_kv_heads = sweep->kv_counts[sweep->next];
    req.shape = sweep->base.shape;
    req.layers = sweep->base.run_layers;
    req.fit_layers = true;
    req.cancel = &sweep->cancel;
    auto result = runModel(*backend.value(), req);
    if (!result) {
        finish();
        const bool cancelled = result.error().code == ErrorCode::Cancelled || sweep->cancel;
        emit sweepFailed(sweep->id, cancelled ? tr("Sweep cancelled") : QString::fromStdString(result.error().message),
                         cancelled);
        return;
    }
    const RunResult& r = result.value();
    noteMeasuredCeilings(*backend.value(), r.ceilings);
    SweepPoint pt;
    pt.n_kv_heads = req.config.n_kv_heads;
    pt.group_size = req.config.groupSize();
    pt.layers_run = r.layers_run;
    pt.prefill_ms = r.prefill.total_ms;
    const double steps = static_cast<double>(std::max<int64_t>(1, r.shape.decode_steps));
    pt.decode_ms_per_token = r.decode.total_ms / steps;
    pt.decode_pred_ms_per_token = r.decode.predicted_ms / steps;
    pt.decode_tokens_per_s = r.decode.tokens_per_s;
    pt.kv_cache_bytes = r.memory.kv_cache_bytes;
    ++sweep->next;
    const int done = static_cast<int>(sweep->next);
    emit sweepPointAvailable(sweep->id, pt, done, total);
    if (done == total) {
        finish();
        emit sweepFinished(sweep->id);
    }
}

}  // namespace gqa::ui

namespace gqa::ui {

void EngineWorker::tradeoff(TradeoffJob& job) {
    const quint64 id = job.id;
    auto fail = [&](const Error& e) {
        const bool cancelled = e.code == ErrorCode::Cancelled || job.cancel;
        emit tradeoffFailed(id, cancelled ? tr("Trade-off sweep cancelled") : QString::fromStdString(e.message),
                            cancelled);
    };
    if (job.cancel) return fail(makeError(ErrorCode::Cancelled, "cancelled"));
    const RunParams& p = job.params.base;
    auto backend = backendFor(p.backend);
    if (!backend) return fail(backend.error());
    Backend& be = *backend.value();

    TradeoffRequest req;
    req.method = job.params.method;
    req.attention_iterations = 10;
    req.keep_maps = true;  // the view's maps come from the quality pass: one prefill per grouping
    req.cancel = &job.cancel;
    req.points_done = &job.points_done;
    auto out = std::make_shared<TradeoffOutcome>();
    QStringList why;

    std::optional<Model> synthetic;
    const Model* start = nullptr;
    if (p.model) {
        // A checkpoint is swept itself: its query heads are fixed, its KV heads only merge. Quality on real
        // text: the prompt, or the text the user picked, tokenized here.
        const Model& ckpt = *p.model;
        std::vector<int32_t> tokens = p.prompt_tokens;
        out->quality_source = tr("the prompt");
        if (!job.params.quality_text.isEmpty()) {
            if (!ckpt.tokenizer) return fail(makeError(ErrorCode::InvalidArgument, "the model has no tokenizer"));
            tokens = ckpt.tokenizer->encode(job.params.quality_text.toStdString(), ckpt.tokenizer->addBosByDefault());
            out->quality_source = job.params.quality_source;
        }
        if (static_cast<int64_t>(tokens.size()) > kTradeoffMaxTextTokens) {
            why << tr("perplexity of the first %1 of %2 tokens").arg(kTradeoffMaxTextTokens).arg(static_cast<qint64>(tokens.size()));
            tokens.resize(static_cast<size_t>(kTradeoffMaxTextTokens));
        }
        if (tokens.size() < 2)
            return fail(makeError(ErrorCode::InvalidArgument, "a perplexity needs a text of at least 2 tokens"));
        req.config = ckpt.config;
        req.shape.batch = 1;
        req.shape.prompt_len = static_cast<int64_t>(tokens.size());
        req.shape.decode_steps = std::clamp<int64_t>(p.shape.decode_steps, 1, kTradeoffMaxDecode);
        req.prompt_tokens = std::move(tokens);
        const int64_t layers = p.run_layers > 0 ? std::min(p.run_layers, ckpt.config.n_layers) : ckpt.config.n_layers;
        if (layers < ckpt.config.n_layers) {
            synthetic = ckpt.firstLayers(layers);  // not synthetic: the checkpoint's first layers, LM head on layer N
            why << tr("%1 of %2 layers run, the LM head reading layer %1 (KV-cache bytes count all %2)")
                       .arg(layers)
                       .arg(ckpt.config.n_layers);
        }
        start = synthetic ? &*synthetic : &ckpt;
        out->model = p.model;
    } else {
        // Start from the multi-head version of the live model, as `gqa-lab-cli tradeoff --from-mha` does:
        // every divisor of n_q is then a coarser grouping of it.
        ModelConfig mha = p.config;
        mha.n_kv_heads = mha.n_q_heads;
        if (Status s = mha.validate(); !s) return fail(s.error());
        req.config = mha;
        req.shape.batch = 1;
        req.shape.prompt_len = std::min(p.shape.prompt_len, kTradeoffMaxPrompt);
        req.shape.decode_steps = std::min(p.shape.decode_steps, kTradeoffMaxDecode);
        if (Status s = req.shape.validate(mha); !s) return fail(s.error());
        req.layers = tradeoffLayers(mha, req.shape, be.deviceInfo().available_bytes, p.run_layers);
        if (req.layers < mha.n_layers)
            why << tr("%1 of %2 layers run (quality and maps; KV-cache bytes count all %2)").arg(req.layers).arg(mha.n_layers);
        if (req.shape.prompt_len < p.shape.prompt_len || p.shape.batch > 1 || req.shape.decode_steps < p.shape.decode_steps)
            why << tr("batch 1, %1-token prompt + %2 decode steps").arg(req.shape.prompt_len).arg(req.shape.decode_steps);
        auto weights = makeSyntheticModel(mha, req.seed, req.weights, req.layers, &job.cancel);
        if (!weights) return fail(weights.error());
        synthetic = std::move(weights).value();
        start = &*synthetic;
    }

    int64_t n_points = 0;
    for (int64_t g : req.config.validKvHeadCounts()) n_points += req.config.n_kv_heads % g == 0 ? 1 : 0;
    job.points_total = (p.model ? 2 : 1) * n_points;
    auto result = runTradeoff(be, *start, req);
    if (!result) return fail(result.error());
    out->result = std::move(result).value();
    for (TradeoffPoint& pt : out->result.points) out->maps.push_back(std::move(pt.maps));
    if (p.model) {
        // The other method, for the comparison the paper makes (quality only: the costs are the same).
        TradeoffRequest other = req;
        other.method = req.method == ConvertMethod::MeanPool ? ConvertMethod::First : ConvertMethod::MeanPool;
        other.keep_maps = false;
        other.attention_iterations = 1;
        auto r2 = runTradeoff(be, *start, other);
        if (!r2) return fail(r2.error());
        out->other_method = std::move(r2).value();
    }
    out->depth_note = why.join(QStringLiteral("; "));
    emit tradeoffAvailable(id, std::move(out));
}

void EngineWorker::save(const SaveJob& job) {
    const SaveConvertedParams& p = job.params;
    if (!p.model) {
        emit convertedModelSaveFailed(job.id, p.dir, tr("no checkpoint is loaded"));
        return;
    }
    const Model* m = p.model.get();
    std::optional<Model> converted;
    if (p.n_kv_heads != p.model->config.n_kv_heads) {
        auto c = convertKvHeads(*p.model, p.n_kv_heads, p.method);
        if (!c) {
            emit convertedModelSaveFailed(job.id, p.dir, QString::fromStdString(c.error().message));
            return;
        }
        converted = std::move(c).value();
        m = &*converted;
    }
    if (Status s = saveHfModel(*m, p.dir.toStdString()); !s) {
        emit convertedModelSaveFailed(job.id, p.dir, QString::fromStdString(s.message()));
        return;
    }
    emit convertedModelSaved(job.id, p.dir, p.n_kv_heads);
}

}  // namespace gqa::ui
