#include "engine_controller.h"

#include "engine_worker.h"

namespace gqa::ui {

ThreadedEngineController::ThreadedEngineController(QObject* parent)
    : EngineController(parent), m_queue(std::make_shared<JobQueue>()) {
    registerMetaTypes();
    m_thread.setObjectName(QStringLiteral("gqa-engine"));
    m_worker = new EngineWorker(m_queue);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &EngineWorker::backendsAvailable, this, &EngineController::backendsAvailable);
    connect(m_worker, &EngineWorker::analysisAvailable, this, &ThreadedEngineController::onWorkerAnalysis);
    connect(m_worker, &EngineWorker::tokenGenerated, this, [this](quint64 id, qint64 step, qint32 token) {
        if (id == m_latestRunId) emit tokenGenerated(id, step, token);
    });
    connect(m_worker, &EngineWorker::resultAvailable, this, &ThreadedEngineController::onWorkerResult);
    connect(m_worker, &EngineWorker::runFailed, this, &ThreadedEngineController::onWorkerRunFailed);
    connect(m_worker, &EngineWorker::sweepPointAvailable, this, &ThreadedEngineController::onWorkerSweepPoint);
    connect(m_worker, &EngineWorker::sweepFinished, this, &ThreadedEngineController::onWorkerSweepFinished);
    connect(m_worker, &EngineWorker::sweepFailed, this, &ThreadedEngineController::onWorkerSweepFailed);
    connect(m_worker, &EngineWorker::tradeoffAvailable, this, &ThreadedEngineController::onWorkerTradeoff);
    connect(m_worker, &EngineWorker::tradeoffFailed, this, &ThreadedEngineController::onWorkerTradeoffFailed);
    connect(m_worker, &EngineWorker::groupingAnalysisAvailable, this, [this](quint64 id, const GroupingAnalysisPtr& a) {
        if (id == m_latestGroupingId) emit groupingAnalysisAvailable(id, a);
    });
    connect(m_worker, &EngineWorker::groupingAnalysisFailed, this,
            [this](quint64 id, const QString& m, bool cancelled) {
                if (id == m_latestGroupingId) emit groupingAnalysisFailed(id, m, cancelled);
            });
    connect(m_worker, &EngineWorker::modelLoaded, this, [this](quint64 id, const ModelPtr& m, const QString& path) {
        if (id == m_latestLoadId) emit modelLoaded(id, m, path);
    });
    connect(m_worker, &EngineWorker::modelLoadFailed, this,
            [this](quint64 id, const QString& path, const QString& msg, bool cancelled) {
                if (id == m_latestLoadId) emit modelLoadFailed(id, path, msg, cancelled);
            });
    connect(m_worker, &EngineWorker::promptScoreAvailable, this, [this](quint64 id, double ppl) {
        if (id == m_latestRunId) emit promptScoreAvailable(id, ppl);
    });
    connect(m_worker, &EngineWorker::convertedModelSaved, this, &EngineController::convertedModelSaved);
    connect(m_worker, &EngineWorker::convertedModelSaveFailed, this, &EngineController::convertedModelSaveFailed);
    m_thread.start();
}

ThreadedEngineController::~ThreadedEngineController() {
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->stopping = true;
        m_queue->save.pending.reset();
        m_queue->load.cancel();
        m_queue->run.cancel();
        m_queue->tradeoff.cancel();
        m_queue->grouping.cancel();
        m_queue->sweep.cancel();
    }
    m_thread.quit();
    m_thread.wait();
}

void ThreadedEngineController::pokeWorker() {
    QMetaObject::invokeMethod(m_worker, &EngineWorker::pump, Qt::QueuedConnection);
}

quint64 ThreadedEngineController::requestRun(const RunParams& params) {
    auto job = std::make_shared<RunJob>();
    job->id = ++m_nextId;
    job->params = params;
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->run.submit(job);
    }
    m_latestRunId = job->id;
    updateBusy();
    pokeWorker();
    return job->id;
}

void ThreadedEngineController::cancelRun() {
    std::lock_guard lock(m_queue->mutex);
    m_queue->run.cancel();
}

quint64 ThreadedEngineController::requestSweep(const RunParams& base) {
    auto sweep = std::make_shared<SweepJob>();
    sweep->id = ++m_nextId;
    sweep->base = base;
    sweep->base.want_maps = false;
    sweep->kv_counts = base.config.validKvHeadCounts();
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->sweep.submit(sweep);
    }
    m_latestSweepId = sweep->id;
    m_sweepActive = true;
    updateBusy();
    emit sweepStarted(sweep->id, static_cast<int>(sweep->kv_counts.size()));
    pokeWorker();
    return sweep->id;
}

void ThreadedEngineController::cancelSweep() {
    std::lock_guard lock(m_queue->mutex);
    m_queue->sweep.cancel();
}

quint64 ThreadedEngineController::requestTradeoff(const TradeoffParams& params) {
    auto job = std::make_shared<TradeoffJob>();
    job->id = ++m_nextId;
    job->params = params;
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->tradeoff.submit(job);
    }
    m_latestTradeoffId = job->id;
    pokeWorker();
    return job->id;
}

void ThreadedEngineController::cancelTradeoff() {
    std::lock_guard lock(m_queue->mutex);
    m_queue->tradeoff.cancel();
}

std::pair<int64_t, int64_t> ThreadedEngineController::tradeoffProgress() const {
    std::lock_guard lock(m_queue->mutex);
    return m_queue->tradeoff.progress(m_latestTradeoffId);
}

void ThreadedEngineController::onWorkerTradeoff(quint64 id, const TradeoffOutcomePtr& outcome) {
    if (id == m_latestTradeoffId) emit tradeoffAvailable(id, outcome);
}

void ThreadedEngineController::onWorkerTradeoffFailed(quint64 id, const QString& message, bool cancelled) {
    if (id == m_latestTradeoffId) emit tradeoffFailed(id, message, cancelled);
}

quint64 ThreadedEngineController::requestGroupingAnalysis(const GroupingAnalysisRequest& params) {
    auto job = std::make_shared<GroupingJob>();
    job->id = ++m_nextId;
    job->params = params;
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->grouping.submit(job);
    }
    m_latestGroupingId = job->id;
    pokeWorker();
    return job->id;
}

quint64 ThreadedEngineController::requestModelLoad(const QString& path) {
    auto job = std::make_shared<LoadJob>();
    job->id = ++m_nextId;
    job->path = path;
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->load.submit(job);
    }
    m_latestLoadId = job->id;
    pokeWorker();
    return job->id;
}

void ThreadedEngineController::cancelModelLoad() {
    std::lock_guard lock(m_queue->mutex);
    m_queue->load.cancel();
}

std::pair<int64_t, int64_t> ThreadedEngineController::modelLoadProgress() const {
    std::lock_guard lock(m_queue->mutex);
    return m_queue->load.progress(m_latestLoadId);
}

quint64 ThreadedEngineController::requestSaveConverted(const SaveConvertedParams& params) {
    auto job = std::make_shared<SaveJob>();
    job->id = ++m_nextId;
    job->params = params;
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->save.submit(job);  // a save is short and never cancelled: a newer one only replaces it
    }
    pokeWorker();
    return job->id;
}

void ThreadedEngineController::requestBackends() {
    {
        std::lock_guard lock(m_queue->mutex);
        m_queue->probe_requested = true;
    }
    pokeWorker();
}

RunProgress ThreadedEngineController::runProgress() const {
    RunProgress p;
    p.id = m_latestRunId;
    std::lock_guard lock(m_queue->mutex);
    const auto& job = m_queue->run.running;
    if (job && job->id == m_latestRunId) {
        p.running = true;
        p.layers_done = job->control.done.load();
        p.layers_total = job->control.total.load();
    }
    return p;
}

void ThreadedEngineController::onWorkerAnalysis(quint64 id, const AnalysisPtr& analysis) {
    if (id == m_latestRunId) emit analysisAvailable(id, analysis);
}

void ThreadedEngineController::onWorkerResult(quint64 id, const RunResultPtr& result) {
    if (id != m_latestRunId) {
        ++m_droppedStale;  // a newer request exists: this answer must never reach the views
        return;
    }
    m_answeredRunId = id;
    updateBusy();
    emit resultAvailable(id, result);
}

void ThreadedEngineController::onWorkerRunFailed(quint64 id, const QString& message, bool cancelled) {
    if (id != m_latestRunId) return;
    m_answeredRunId = id;
    updateBusy();
    emit runFailed(id, message, cancelled);
}

void ThreadedEngineController::onWorkerSweepPoint(quint64 id, const SweepPoint& point, int done, int total) {
    if (id == m_latestSweepId) emit sweepPointAvailable(id, point, done, total);
}

void ThreadedEngineController::onWorkerSweepFinished(quint64 id) {
    if (id != m_latestSweepId) return;
    m_sweepActive = false;
    updateBusy();
    emit sweepFinished(id);
}

void ThreadedEngineController::onWorkerSweepFailed(quint64 id, const QString& message, bool cancelled) {
    if (id != m_latestSweepId) return;
    m_sweepActive = false;
    updateBusy();
    emit sweepFailed(id, message, cancelled);
}

void ThreadedEngineController::updateBusy() {
    const bool busy = m_latestRunId != m_answeredRunId || m_sweepActive;
    if (busy == m_busy) return;
    m_busy = busy;
    emit busyChanged(busy);
}

}  // namespace gqa::ui
