// Memory: KV-cache bytes against sequence length (MHA, the current grouping, MQA, pinned), the whole
// model as stacked bars (weights + KV + activations) with the device's memory, what fits, and the
// backend's measured allocation beside the analytic number; and, below, what each GPU holds under tensor
// parallelism (tensorParallelSweep of the same configuration, batch and length, against one GPU's memory).
#pragma once

#include <QWidget>

#include <optional>
#include <vector>

#include "engine_types.h"
#include "gqa/analysis.h"
#include "snapshot.h"

class QCustomPlot;
class QCPGraph;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QTableWidget;

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

    // ---- Tensor parallelism: a table of the degrees t = 1, 2, 4, …, 64 (and the chosen t when it is not a
    // power of two) for analysis->config at analysis->shape (batch, prompt + decode tokens), one row each:
    // valid or why not, query / KV heads per GPU, KV replication, KV cache, weights, total and the longest
    // context per GPU. Recomputed here (it is analytic and cheap) whenever the data, t or the GPU memory change.
    int tpDegree() const;  // the chosen degree, highlighted and summarised (1..64, default 8)
    void setTpDegree(int degree);
    int64_t gpuMemoryBytes() const;  // one GPU's memory (default 80 GiB)
    void setGpuMemoryBytes(int64_t bytes);
    QTableWidget* tpTable() const { return m_tpTable; }
    // The table's rows, top to bottom. Numeric cells hold the exact value under Qt::UserRole.
    const std::vector<TensorParallelPlan>& tpPlans() const { return m_tpPlans; }
    int tpRowOf(int degree) const;  // the table row of degree t; -1 when not shown
    QString tpSummaryText() const;
    enum TpColumn {
        TpDegree = 0,
        TpQHeads,
        TpKvHeads,
        TpReplication,
        TpKvCache,
        TpWeights,
        TpTotal,
        TpMaxContext,
        TpColumns
    };

private:
    void rebuild();
    void rebuildTp();

    QCustomPlot* m_plot = nullptr;
    QLabel* m_text = nullptr;
    QSpinBox* m_tpDegree = nullptr;
    QDoubleSpinBox* m_gpuMemory = nullptr;
    QTableWidget* m_tpTable = nullptr;
    QLabel* m_tpSummary = nullptr;
    std::vector<TensorParallelPlan> m_tpPlans;
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
