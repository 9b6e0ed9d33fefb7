#include "engine_worker.h"

#include "analysis.h"

namespace gqa::ui {

EngineWorker::EngineWorker(std::shared_ptr<JobQueue> queue) : m_queue(std::move(queue)) {}

EngineWorker::~EngineWorker() = default;

void EngineWorker::pump() {
    for (;;) {
        bool probe_now = false;
        std::shared_ptr<RunJob> job;
        std::shared_ptr<SweepJob> sweep;
        {
            std::lock_guard lock(m_queue->mutex);
            if (m_queue->stopping) return;
            probe_now = std::exchange(m_queue->probe_requested, false);
            if (!probe_now) {
                if (m_queue->pending_run) {
                    job = std::move(m_queue->pending_run);
                    m_queue->running_run = job;
                    job->running = true;
                } else if (m_queue->sweep) {
                    sweep = m_queue->sweep;
                }
            }
        }
        if (probe_now) {
            probe();
        } else if (job) {
            run(*job);
            std::lock_guard lock(m_queue->mutex);
            job->running = false;
            if (m_queue->running_run == job) m_queue->running_run.reset();
        } else if (sweep) {
            sweepStep(sweep);
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
    auto analysis = std::make_shared<Analysis>(computeAnalysis(p, be.deviceInfo(), be.fp32WeightCopy(),
                                                               ceilings.value().first, ceilings.value().second));
    job.layers_total = analysis->progress_total;
    RunRequest req;
    req.config = p.config;
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
    emit resultAvailable(id, std::make_shared<const RunResult>(std::move(result).value()));
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
