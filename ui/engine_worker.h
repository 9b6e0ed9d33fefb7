// The worker that owns the engine: lives on the controller's QThread, takes jobs from a shared queue.
#pragma once

#include <QObject>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine_types.h"
#include "gqa/jobs.h"

namespace gqa::ui {

struct RunJob {
    quint64 id = 0;
    RunParams params;
    std::atomic<bool> cancel{false};
    std::atomic<int64_t> layers_done{0};
    std::atomic<int64_t> layers_total{0};
    std::atomic<bool> running{false};
};

struct SweepJob {
    quint64 id = 0;
    RunParams base;
    std::vector<int64_t> kv_counts;  // ascending valid KV-head counts
    size_t next = 0;                 // worker-only
    std::atomic<bool> cancel{false};
};

struct TradeoffJob {
    quint64 id = 0;
    TradeoffParams params;
    std::atomic<bool> cancel{false};
    std::atomic<int64_t> points_done{0};   // the engine's sweep, then the map pass: one each per grouping
    std::atomic<int64_t> points_total{0};
};

struct SaveJob {
    quint64 id = 0;
    SaveConvertedParams params;
};

struct LoadJob {
    quint64 id = 0;
    QString path;
    JobControl control;  // steps of loadModelJob; cancel between them
};

// Shared between the GUI thread (producer) and the worker (consumer); everything under `mutex`.
struct JobQueue {
    std::mutex mutex;
    std::shared_ptr<RunJob> pending_run;
    std::shared_ptr<RunJob> running_run;
    std::shared_ptr<SweepJob> sweep;
    std::shared_ptr<TradeoffJob> pending_tradeoff;
    std::shared_ptr<TradeoffJob> running_tradeoff;
    // One rule for every kind: a new request replaces the queued one of its kind and cancels the running one.
    std::shared_ptr<LoadJob> pending_load;
    std::shared_ptr<LoadJob> running_load;
    std::shared_ptr<SaveJob> pending_save;  // a save is short and never cancelled: a newer one only replaces it
    bool probe_requested = false;
    std::map<std::string, Ceilings> known_ceilings;  // by device name, from QSettings
    bool stopping = false;
};

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(std::shared_ptr<JobQueue> queue);
    ~EngineWorker() override;

    // Drains the queue: probes, then runs (newest only), then sweep points one at a time.
    void pump();

signals:
    void backendsAvailable(const QVector<gqa::ui::BackendChoice>& backends);
    void analysisAvailable(quint64 id, const gqa::ui::AnalysisPtr& analysis);
    void resultAvailable(quint64 id, const gqa::ui::RunResultPtr& result);
    void runFailed(quint64 id, const QString& message, bool cancelled);
    void ceilingsAvailable(const QString& backend, const QString& device, const gqa::Ceilings& ceilings);
    void sweepPointAvailable(quint64 id, const gqa::ui::SweepPoint& point, int done, int total);
    void sweepFinished(quint64 id);
    void sweepFailed(quint64 id, const QString& message, bool cancelled);
    void tradeoffAvailable(quint64 id, const gqa::ui::TradeoffOutcomePtr& outcome);
    void tradeoffFailed(quint64 id, const QString& message, bool cancelled);
    void modelLoaded(quint64 id, const gqa::ui::ModelPtr& model, const QString& path);
    void modelLoadFailed(quint64 id, const QString& path, const QString& message, bool cancelled);
    // The prompt's perplexity under the run's model and depth (real models), after resultAvailable.
    void promptScoreAvailable(quint64 id, double perplexity);
    void convertedModelSaved(quint64 id, const QString& dir, qint64 n_kv_heads);
    void convertedModelSaveFailed(quint64 id, const QString& dir, const QString& message);

private:
    void load(LoadJob& job);
    void probe();
    void run(RunJob& job);
    void sweepStep(const std::shared_ptr<SweepJob>& sweep);
    void tradeoff(TradeoffJob& job);
    void save(const SaveJob& job);
    Expected<Backend*> backendFor(const QString& name);
    // Ceilings for the analysis: measured in this process, else remembered, else measured now.
    Expected<std::pair<Ceilings, bool>> ceilingsFor(Backend& backend);
    void noteMeasuredCeilings(Backend& backend, const Ceilings& c);

    std::shared_ptr<JobQueue> m_queue;
    std::map<std::string, std::unique_ptr<Backend>> m_backends;
    std::map<std::string, Ceilings> m_measured;  // by backend name, this process
    // The last live conversion (checkpoint, KV heads, method): a depth or prompt edit reuses it.
    const Model* m_convertedFrom = nullptr;
    int64_t m_convertedKv = 0;
    ConvertMethod m_convertedMethod = ConvertMethod::MeanPool;
    ModelPtr m_converted;
};

}  // namespace gqa::ui
