// Latency: per-layer and per-op stacked bars for prefill and decode, measured against the roofline,
// tokens/s, the ceilings, and a sweep over every valid KV-head count (latency and KV bytes).
#pragma once

#include <QWidget>

#include <optional>
#include <vector>

#include "engine_types.h"
#include "snapshot.h"

class QCustomPlot;
class QLabel;
class QProgressBar;
class QPushButton;

namespace gqa::ui {

class LatencyView : public QWidget {
    Q_OBJECT
public:
    explicit LatencyView(QWidget* parent = nullptr);

    void setData(const AnalysisPtr& analysis, const RunResultPtr& result, const std::optional<Snapshot>& pinned);

    // Sweep progress, driven by the window from the controller's signals.
    void onSweepStarted(int total);
    void onSweepPoint(const SweepPoint& point, int done, int total);
    void onSweepFinished();
    void onSweepFailed(const QString& message, bool cancelled);
    // Drops a finished sweep (another model is shown); a running one is left to its signals.
    void clearSweep();

    QList<QCustomPlot*> plots() const { return {m_layerPlot, m_opPlot, m_sweepPlot}; }
    QCustomPlot* layerPlot() const { return m_layerPlot; }
    QCustomPlot* opPlot() const { return m_opPlot; }
    QCustomPlot* sweepPlot() const { return m_sweepPlot; }
    QPushButton* sweepButton() const { return m_sweep; }
    QPushButton* cancelSweepButton() const { return m_cancelSweep; }
    QProgressBar* sweepProgress() const { return m_progress; }
    const std::vector<SweepPoint>& sweepPoints() const { return m_points; }
    // Neighbouring sweep points (n_kv, n_kv) whose decode spreads overlap: their ordering is inside the noise.
    const std::vector<std::pair<int64_t, int64_t>>& sweepTies() const { return m_ties; }
    QString sweepStatusText() const;
    QString summaryText() const;
    quint64 updateCount() const { return m_updates; }

signals:
    void sweepRequested();
    void sweepCancelRequested();

private:
    void rebuildLayers();
    void rebuildOps();
    void rebuildSweep();

    QLabel* m_summary = nullptr;
    QCustomPlot* m_layerPlot = nullptr;
    QCustomPlot* m_opPlot = nullptr;
    QCustomPlot* m_sweepPlot = nullptr;
    QPushButton* m_sweep = nullptr;
    QPushButton* m_cancelSweep = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_sweepStatus = nullptr;

    AnalysisPtr m_analysis;
    RunResultPtr m_result;
    std::optional<Snapshot> m_pinned;
    std::vector<SweepPoint> m_points;
    std::vector<std::pair<int64_t, int64_t>> m_ties;
    ModelConfig m_sweepConfig;
    quint64 m_updates = 0;
};

}  // namespace gqa::ui
