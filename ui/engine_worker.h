// The worker that owns the engine: lives on the controller's QThread, takes jobs from a shared queue, calls
// the engine's job functions (gqa/jobs.h) and forwards what they report as signals. It orchestrates nothing.
#pragma once

#include <QObject>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine_types.h"
#include "gqa/jobs.h"

namespace gqa::ui {

// Every queued job: its id (assigned by the controller) and the engine's progress/cancel block.
struct QueuedJob {
    quint64 id = 0;
    JobControl control;
};
struct RunJob : QueuedJob {
    RunParams params;
};
struct SweepJob : QueuedJob {
    RunParams base;
    std::vector<int64_t> kv_counts;  // ascending valid KV-head counts
    size_t next = 0;                 // worker-only: points are run one at a time, other jobs go between them
};
struct TradeoffJob : QueuedJob {
    TradeoffParams params;
};
struct GroupingJob : QueuedJob {
    GroupingAnalysisRequest params;
};
struct SaveJob : QueuedJob {
    SaveConvertedParams params;
};
struct LoadJob : QueuedJob {
    QString path;
};

// One rule for every kind of job: a new request replaces the queued one of its kind and cancels the running
// one. Used under JobQueue::mutex.
template <class Job>
struct JobSlot {
    std::shared_ptr<Job> pending;
    std::shared_ptr<Job> running;
    void submit(std::shared_ptr<Job> job) {
        cancel();
        pending = std::move(job);
    }
    void cancel() {
        if (pending) pending->control.cancel = true;
        if (running) running->control.cancel = true;
    }
    // The queued job becomes the running one (null when none is queued).
    std::shared_ptr<Job> start() {
        if (!pending) return nullptr;
        running = std::move(pending);
        return running;
    }
    void finish(const std::shared_ptr<Job>& job) {
        if (running == job) running.reset();
    }
    // The running job's progress when it is `id`, else (0, 0).
    std::pair<int64_t, int64_t> progress(quint64 id) const {
        if (!running || running->id != id) return {0, 0};
        return {running->control.done.load(), running->control.total.load()};
    }
};

// Shared between the GUI thread (producer) and the worker (consumer); everything under `mutex`.
struct JobQueue {
    std::mutex mutex;
    // In the worker's order of priority: saves and loads, then runs, grouping analyses, trade-offs, and sweep
    // points last.
    JobSlot<SaveJob> save;
    JobSlot<LoadJob> load;
    JobSlot<RunJob> run;
    JobSlot<GroupingJob> grouping;
    JobSlot<TradeoffJob> tradeoff;
    JobSlot<SweepJob> sweep;  // stays running between its points
    bool probe_requested = false;
    bool stopping = false;
};

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(std::shared_ptr<JobQueue> queue);
    ~EngineWorker() override;

    // Drains the queue: probes, then saves, loads, runs (newest only), trade-offs, then sweep points one at a
    // time.
    void pump();

signals:
    void backendsAvailable(const QVector<gqa::ui::BackendChoice>& backends);
    void analysisAvailable(quint64 id, const gqa::ui::AnalysisPtr& analysis);
    // A decode step's input token of sequence 0 (step 0 = sampled after the prompt), as the run produces it.
    void tokenGenerated(quint64 id, qint64 step, qint32 token);
    void resultAvailable(quint64 id, const gqa::ui::RunResultPtr& result);
    void runFailed(quint64 id, const QString& message, bool cancelled);
    void sweepPointAvailable(quint64 id, const gqa::ui::SweepPoint& point, int done, int total);
    void sweepFinished(quint64 id);
    void sweepFailed(quint64 id, const QString& message, bool cancelled);
    void groupingAnalysisAvailable(quint64 id, const gqa::ui::GroupingAnalysisPtr& analysis);
    void groupingAnalysisFailed(quint64 id, const QString& message, bool cancelled);
    void tradeoffAvailable(quint64 id, const gqa::ui::TradeoffOutcomePtr& outcome);
    void tradeoffFailed(quint64 id, const QString& message, bool cancelled);
    void modelLoaded(quint64 id, const gqa::ui::ModelPtr& model, const QString& path);
    void modelLoadFailed(quint64 id, const QString& path, const QString& message, bool cancelled);
    // The prompt's perplexity under the run's model and depth (real models), after resultAvailable.
    void promptScoreAvailable(quint64 id, double perplexity);
    void convertedModelSaved(quint64 id, const QString& dir, qint64 n_kv_heads);
    void convertedModelSaveFailed(quint64 id, const QString& dir, const QString& message);

private:
    void probe();
    void load(LoadJob& job);
    void run(RunJob& job);
    // One point; true when the sweep is over (finished, failed or cancelled).
    bool sweepStep(SweepJob& sweep);
    void tradeoff(TradeoffJob& job);
    void grouping(GroupingJob& job);
    void save(const SaveJob& job);
    Expected<Backend*> backendFor(const std::string& name);

    std::shared_ptr<JobQueue> m_queue;
    std::map<std::string, std::unique_ptr<Backend>> m_backends;
    LiveModelCache m_live;  // the last live conversion of a checkpoint
};

}  // namespace gqa::ui
