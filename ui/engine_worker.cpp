#include "engine_worker.h"

#include <exception>
#include <new>

namespace gqa::ui {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

}  // namespace

EngineWorker::EngineWorker(std::shared_ptr<JobQueue> queue) : m_queue(std::move(queue)) {}

EngineWorker::~EngineWorker() = default;

void EngineWorker::pump() {
    for (;;) {
        bool probe_now = false;
        std::shared_ptr<SaveJob> save_job;
        std::shared_ptr<LoadJob> load_job;
        std::shared_ptr<RunJob> run_job;
        std::shared_ptr<GroupingJob> group;
        std::shared_ptr<TradeoffJob> trade;
        std::shared_ptr<SweepJob> sweep;
        {
            std::lock_guard lock(m_queue->mutex);
            if (m_queue->stopping) return;
            probe_now = std::exchange(m_queue->probe_requested, false);
            if (!probe_now && !(save_job = m_queue->save.start()) && !(load_job = m_queue->load.start()) &&
                !(run_job = m_queue->run.start()) && !(group = m_queue->grouping.start()) &&
                !(trade = m_queue->tradeoff.start())) {
                sweep = m_queue->sweep.start();
                if (!sweep) sweep = m_queue->sweep.running;
            }
        }
        // Nothing the engine throws may end the process: it reports errors as values, and an allocation the
        // prediction missed (std::bad_alloc) is reported like any other failure.
        auto guarded = [](auto&& work, auto&& fail) {
            try {
                work();
            } catch (const std::bad_alloc&) {
                fail(tr("out of memory: the job needed more than the machine could allocate"));
            } catch (const std::exception& e) {
                fail(QString::fromUtf8(e.what()));
            }
        };
        if (probe_now) {
            probe();
        } else if (save_job) {
            guarded([&] { save(*save_job); },
                    [&](const QString& m) { emit convertedModelSaveFailed(save_job->id, save_job->params.dir, m); });
            std::lock_guard lock(m_queue->mutex);
            m_queue->save.finish(save_job);
        } else if (load_job) {
            guarded([&] { load(*load_job); },
                    [&](const QString& m) { emit modelLoadFailed(load_job->id, load_job->path, m, false); });
            std::lock_guard lock(m_queue->mutex);
            m_queue->load.finish(load_job);
        } else if (run_job) {
            guarded([&] { run(*run_job); }, [&](const QString& m) { emit runFailed(run_job->id, m, false); });
            std::lock_guard lock(m_queue->mutex);
            m_queue->run.finish(run_job);
        } else if (group) {
            guarded([&] { grouping(*group); },
                    [&](const QString& m) { emit groupingAnalysisFailed(group->id, m, false); });
            std::lock_guard lock(m_queue->mutex);
            m_queue->grouping.finish(group);
        } else if (trade) {
            guarded([&] { tradeoff(*trade); }, [&](const QString& m) { emit tradeoffFailed(trade->id, m, false); });
            std::lock_guard lock(m_queue->mutex);
            m_queue->tradeoff.finish(trade);
        } else if (sweep) {
            bool over = true;
            guarded([&] { over = sweepStep(*sweep); },
                    [&](const QString& m) { emit sweepFailed(sweep->id, m, false); });
            if (over) {
                std::lock_guard lock(m_queue->mutex);
                m_queue->sweep.finish(sweep);
            }
        } else {
            return;
        }
    }
}

void EngineWorker::probe() {
    QVector<BackendChoice> out;
    for (const BackendAvailability& b : probeBackends())
        out.push_back({qs(b.name), b.available, qs(b.device), qs(b.reason)});
    emit backendsAvailable(out);
}

Expected<Backend*> EngineWorker::backendFor(const std::string& name) {
    auto it = m_backends.find(name);
    if (it != m_backends.end()) return it->second.get();
    auto created = createBackend(name);
    if (!created) return created.error();
    Backend* raw = created.value().get();
    m_backends.emplace(name, std::move(created.value()));
    return raw;
}

void EngineWorker::load(LoadJob& job) {
    auto backend = backendFor("cpu");
    const int64_t available = backend ? backend.value()->deviceInfo().available_bytes : 0;
    auto model = loadModelJob(job.path.toStdString(), available, &job.control);
    if (!model) {
        emit modelLoadFailed(job.id, job.path, qs(model.error().message), model.error().code == ErrorCode::Cancelled);
        return;
    }
    emit modelLoaded(job.id, model.value(), job.path);
}

void EngineWorker::run(RunJob& job) {
    const quint64 id = job.id;
    auto backend = backendFor(job.params.backend);
    if (!backend) {
        emit runFailed(id, qs(backend.error().message), false);
        return;
    }
    LiveRunEvents events;
    events.on_plan = [&](RunPlan plan) {
        emit analysisAvailable(id, std::make_shared<const RunPlan>(std::move(plan)));
    };
    events.on_token = [&](int64_t step, const std::vector<int32_t>& tokens) {
        if (!tokens.empty()) emit tokenGenerated(id, step, tokens.front());
    };
    events.on_result = [&](RunResult r) { emit resultAvailable(id, std::make_shared<const RunResult>(std::move(r))); };
    events.on_prompt_perplexity = [&](double ppl) { emit promptScoreAvailable(id, ppl); };
    if (Status s = runLiveJob(*backend.value(), job.params, m_live, &job.control, events); !s) {
        const bool cancelled = s.error().code == ErrorCode::Cancelled || job.control.cancel;
        emit runFailed(id, cancelled ? tr("Cancelled") : qs(s.message()), cancelled);
    }
}

bool EngineWorker::sweepStep(SweepJob& sweep) {
    const int total = static_cast<int>(sweep.kv_counts.size());
    if (sweep.control.cancel) {
        emit sweepFailed(sweep.id, tr("Sweep cancelled"), true);
        return true;
    }
    if (sweep.next >= sweep.kv_counts.size()) {
        emit sweepFinished(sweep.id);
        return true;
    }
    auto backend = backendFor(sweep.base.backend);
    if (!backend) {
        emit sweepFailed(sweep.id, qs(backend.error().message), false);
        return true;
    }
    auto point = kvSweepPoint(*backend.value(), sweep.base, sweep.kv_counts[sweep.next], &sweep.control);
    if (!point) {
        const bool cancelled = point.error().code == ErrorCode::Cancelled || sweep.control.cancel;
        emit sweepFailed(sweep.id, cancelled ? tr("Sweep cancelled") : qs(point.error().message), cancelled);
        return true;
    }
    const int done = static_cast<int>(++sweep.next);
    emit sweepPointAvailable(sweep.id, point.value(), done, total);
    if (done < total) return false;
    emit sweepFinished(sweep.id);
    return true;
}

void EngineWorker::tradeoff(TradeoffJob& job) {
    const quint64 id = job.id;
    auto backend = backendFor(job.params.backend);
    if (!backend) {
        emit tradeoffFailed(id, qs(backend.error().message), false);
        return;
    }
    auto out = tradeoffJob(*backend.value(), job.params, &job.control);
    if (!out) {
        const bool cancelled = out.error().code == ErrorCode::Cancelled || job.control.cancel;
        emit tradeoffFailed(id, cancelled ? tr("Trade-off sweep cancelled") : qs(out.error().message), cancelled);
        return;
    }
    emit tradeoffAvailable(id, std::make_shared<const TradeoffOutcome>(std::move(out).value()));
}

void EngineWorker::grouping(GroupingJob& job) {
    auto backend = backendFor(job.params.live.backend);
    if (!backend) {
        emit groupingAnalysisFailed(job.id, qs(backend.error().message), false);
        return;
    }
    auto out = groupingAnalysisJob(*backend.value(), job.params, m_live, &job.control);
    if (!out) {
        const bool cancelled = out.error().code == ErrorCode::Cancelled || job.control.cancel;
        emit groupingAnalysisFailed(job.id, cancelled ? tr("Cancelled") : qs(out.error().message), cancelled);
        return;
    }
    emit groupingAnalysisAvailable(job.id, std::make_shared<const GroupingAnalysis>(std::move(out).value()));
}

void EngineWorker::save(const SaveJob& job) {
    const SaveConvertedParams& p = job.params;
    if (!p.model) {
        emit convertedModelSaveFailed(job.id, p.dir, tr("no checkpoint is loaded"));
        return;
    }
    if (Status s = saveConvertedModel(*p.model, p.n_kv_heads, p.method, p.dir.toStdString()); !s) {
        emit convertedModelSaveFailed(job.id, p.dir, qs(s.message()));
        return;
    }
    emit convertedModelSaved(job.id, p.dir, p.n_kv_heads);
}

}  // namespace gqa::ui
