// Memory: KV-cache bytes against sequence length (MHA, the current grouping, MQA, pinned), the whole
// model as stacked bars (weights + KV + activations) with the device's memory, what fits, and the
// backend's measured allocation beside the analytic number.
#pragma once

#include <QWidget>

#include <optional>

#include "engine_types.h"
#include "snapshot.h"

class QCustomPlot;
class QCPGraph;
class QLabel;

namespace gqa::ui {

class MemoryView : public QWidget {
    Q_OBJECT
public:
    explicit MemoryView(QWidget* parent = nullptr);

    void setData(const AnalysisPtr& analysis, const RunResultPtr& result, const std::optional<Snapshot>& pinned);

    QCustomPlot* plot() const { return m_plot; }
    QList<QCustomPlot*> plots() const { return {m_plot}; }
    QCPGraph* currentKvGraph() const { return m_currentGraph; }
    int64_t shownKvHeads() const { return m_analysis ? m_analysis->config.n_kv_heads : 0; }
    quint64 updateCount() const { return m_updates; }
    QString summaryText() const;

private:
    void rebuild();

    QCustomPlot* m_plot = nullptr;
    QLabel* m_text = nullptr;
    QCPGraph* m_currentGraph = nullptr;
    AnalysisPtr m_analysis;
    RunResultPtr m_result;
    std::optional<Snapshot> m_pinned;
    quint64 m_updates = 0;
};

// Bytes per display unit chosen so the largest value reads between 1 and 1024 units.
struct ByteUnit {
    double bytes = 1.0;
    QString name;
};
ByteUnit byteUnitFor(double max_bytes);

}  // namespace gqa::ui
