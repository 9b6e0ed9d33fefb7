// The one interface through which the GUI talks to the engine (RenderDoc's replay controller, Hotspot's
// signal names). Requests carry ids; a newer run supersedes a queued or running one, and results that
// are not the newest are dropped here, so views only ever see the latest answer.
#pragma once

#include <QObject>
#include <QThread>

#include <memory>
#include <utility>

#include "engine_types.h"

namespace gqa::ui {

class EngineController : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;
    ~EngineController() override = default;

    // Queues a run (analysis first, then runModel) and returns its id. A queued run is replaced; a
    // running one is cancelled through its cancel flag.
    virtual quint64 requestRun(const RunParams& params) = 0;
    virtual void cancelRun() = 0;
    // One runModel per valid KV-head count of base.config, in ascending order; runs take precedence
    // between points. A new sweep cancels the previous one.
    virtual quint64 requestSweep(const RunParams& base) = 0;
    virtual void cancelSweep() = 0;
    // The MHA -> GQA trade-off sweep of the live model (runTradeoff plus each grouping's attention maps).
    // A new request replaces a queued one and cancels a running one. Not pure, so test doubles that do
    // not care about it need not implement it.
    virtual quint64 requestTradeoff(const TradeoffParams& params) { return 0; }
    virtual void cancelTradeoff() {}
    // (points done, points total) of the running trade-off sweep; (0, 0) when none runs. Polled.
    virtual std::pair<int64_t, int64_t> tradeoffProgress() const { return {0, 0}; }
    // Per-head statistics and head diversity of the live model and a coarser grouping (groupingAnalysisJob);
    // the same replace/cancel rule. Not pure, for test doubles.
    virtual quint64 requestGroupingAnalysis(const GroupingAnalysisRequest& params) { return 0; }
    // Loads a checkpoint (loadModelJob) on the worker; a newer request replaces a queued one and cancels a
    // running one. Not pure, for test doubles.
    virtual quint64 requestModelLoad(const QString& path) { return 0; }
    virtual void cancelModelLoad() {}
    // (steps done, steps total) of the running load; (0, 0) when none runs.
    virtual std::pair<int64_t, int64_t> modelLoadProgress() const { return {0, 0}; }
    // Writes the checkpoint converted to params.n_kv_heads as a Hugging Face directory (saveHfModel) on the
    // worker; answered by convertedModelSaved / convertedModelSaveFailed. Not pure, for test doubles.
    virtual quint64 requestSaveConverted(const SaveConvertedParams& params) { return 0; }
    virtual void requestBackends() = 0;

    virtual RunProgress runProgress() const = 0;  // polled by the GUI (Tracy-style atomic counter)
    virtual quint64 latestRunId() const = 0;
    virtual bool isBusy() const = 0;
    virtual bool isSweeping() const = 0;

signals:
    void backendsAvailable(const QVector<gqa::ui::BackendChoice>& backends);
    void analysisAvailable(quint64 id, const gqa::ui::AnalysisPtr& analysis);
    // Text as it is produced: each decode step's input token of sequence 0 (step 0 = sampled after the prompt).
    void tokenGenerated(quint64 id, qint64 step, qint32 token);
    void resultAvailable(quint64 id, const gqa::ui::RunResultPtr& result);
    void runFailed(quint64 id, const QString& message, bool cancelled);
    void busyChanged(bool busy);
    void sweepStarted(quint64 id, int total);
    void sweepPointAvailable(quint64 id, const gqa::ui::SweepPoint& point, int done, int total);
    void sweepFinished(quint64 id);
    void sweepFailed(quint64 id, const QString& message, bool cancelled);
    void groupingAnalysisAvailable(quint64 id, const gqa::ui::GroupingAnalysisPtr& analysis);
    void groupingAnalysisFailed(quint64 id, const QString& message, bool cancelled);
    void tradeoffAvailable(quint64 id, const gqa::ui::TradeoffOutcomePtr& outcome);
    void tradeoffFailed(quint64 id, const QString& message, bool cancelled);
    void modelLoaded(quint64 id, const gqa::ui::ModelPtr& model, const QString& path);
    void modelLoadFailed(quint64 id, const QString& path, const QString& message, bool cancelled);
    void promptScoreAvailable(quint64 id, double perplexity);
    void convertedModelSaved(quint64 id, const QString& dir, qint64 n_kv_heads);
    void convertedModelSaveFailed(quint64 id, const QString& dir, const QString& message);
};

struct JobQueue;
class EngineWorker;

// One QThread; its EngineWorker owns the backends and the engine calls.
class ThreadedEngineController final : public EngineController {
    Q_OBJECT
public:
    explicit ThreadedEngineController(QObject* parent = nullptr);
    ~ThreadedEngineController() override;

    quint64 requestRun(const RunParams& params) override;
    void cancelRun() override;
    quint64 requestSweep(const RunParams& base) override;
    void cancelSweep() override;
    quint64 requestTradeoff(const TradeoffParams& params) override;
    void cancelTradeoff() override;
    std::pair<int64_t, int64_t> tradeoffProgress() const override;
    quint64 requestGroupingAnalysis(const GroupingAnalysisRequest& params) override;
    quint64 requestModelLoad(const QString& path) override;
    void cancelModelLoad() override;
    std::pair<int64_t, int64_t> modelLoadProgress() const override;
    quint64 requestSaveConverted(const SaveConvertedParams& params) override;
    void requestBackends() override;

    RunProgress runProgress() const override;
    quint64 latestRunId() const override { return m_latestRunId; }
    bool isBusy() const override { return m_busy; }
    bool isSweeping() const override { return m_sweepActive; }

    // Results that arrived after a newer request was made and were dropped (for tests).
    int droppedStaleResults() const { return m_droppedStale; }

private:
    void onWorkerAnalysis(quint64 id, const AnalysisPtr& analysis);
    void onWorkerResult(quint64 id, const RunResultPtr& result);
    void onWorkerRunFailed(quint64 id, const QString& message, bool cancelled);
    void onWorkerSweepPoint(quint64 id, const SweepPoint& point, int done, int total);
    void onWorkerSweepFinished(quint64 id);
    void onWorkerSweepFailed(quint64 id, const QString& message, bool cancelled);
    void onWorkerTradeoff(quint64 id, const TradeoffOutcomePtr& outcome);
    void onWorkerTradeoffFailed(quint64 id, const QString& message, bool cancelled);
    void updateBusy();
    void pokeWorker();

    std::shared_ptr<JobQueue> m_queue;
    QThread m_thread;
    EngineWorker* m_worker = nullptr;
    quint64 m_nextId = 0;
    quint64 m_latestRunId = 0;
    quint64 m_answeredRunId = 0;
    quint64 m_latestSweepId = 0;
    quint64 m_latestTradeoffId = 0;
    quint64 m_latestLoadId = 0;
    quint64 m_latestGroupingId = 0;
    bool m_sweepActive = false;
    bool m_busy = false;
    int m_droppedStale = 0;
};

}  // namespace gqa::ui
