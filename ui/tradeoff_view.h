// Trade-off: the live model converted to MHA, then to every coarser KV grouping (runTradeoff on the
// worker). A scatter with one point per KV-head count, x = what the grouping saves (KV-cache bytes or
// decode-attention ms), y = what it loses (output relative error); the live setting is highlighted and
// clicking a point selects that grouping everywhere. Beside it one query head's attention map in the
// MHA model and the converted one, and their difference.
#pragma once

#include <QWidget>

#include <vector>

#include "engine_types.h"

class QComboBox;
class QCPCurve;
class QCustomPlot;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace gqa::ui {

class TradeoffView : public QWidget {
    Q_OBJECT
public:
    enum class XAxis { KvCacheBytes = 0, DecodeAttentionMs = 1 };

    explicit TradeoffView(QWidget* parent = nullptr);

    // The live configuration: moves the highlight and picks the converted map (no recomputation).
    void setCurrentConfig(const ModelConfig& config);
    // Sweep lifecycle, driven by the window from the controller's signals. `key` names what was asked
    // for (tradeoffKey), so the window knows when the shown sweep no longer matches the controls.
    void onStarted(const QString& key);
    void setProgress(int64_t done, int64_t total);
    void setOutcome(const TradeoffOutcomePtr& outcome);
    void onFailed(const QString& message, bool cancelled);
    bool isSweeping() const { return m_sweeping; }
    const QString& requestedKey() const { return m_key; }

    ConvertMethod method() const;
    XAxis xAxis() const;
    void setXAxis(XAxis axis);
    // What a click on the point with this index does: asks for that KV-head count everywhere.
    void clickPoint(int index);

    const TradeoffOutcomePtr& outcome() const { return m_outcome; }
    int64_t highlightedKvHeads() const { return m_highlightKv; }
    QVector<double> plottedX() const;  // in point order (ascending KV heads), axis units
    QVector<double> plottedY() const;
    QVector<int64_t> plottedKvHeads() const;
    QString placeholderText() const { return m_outcome ? QString() : m_placeholder; }  // the scatter's note
    const QStringList& mapTitles() const { return m_mapTitles; }

    QList<QCustomPlot*> plots() const { return {m_plot, m_mapsPlot}; }
    QCustomPlot* plot() const { return m_plot; }
    QCustomPlot* mapsPlot() const { return m_mapsPlot; }
    QPushButton* sweepButton() const { return m_sweep; }
    QPushButton* cancelButton() const { return m_cancel; }
    QProgressBar* progressBar() const { return m_progress; }
    QComboBox* xAxisCombo() const { return m_xAxis; }
    QComboBox* methodCombo() const { return m_method; }
    QSpinBox* layerSpin() const { return m_layer; }
    QSpinBox* headSpin() const { return m_head; }

signals:
    void sweepRequested();
    void cancelRequested();
    void kvHeadsChosen(int64_t n_kv);

private:
    void rebuildScatter();
    void rebuildMaps();
    void updateSummary();
    int pointIndexOf(int64_t n_kv) const;

    QLabel* m_summary = nullptr;
    QPushButton* m_sweep = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QComboBox* m_method = nullptr;
    QComboBox* m_xAxis = nullptr;
    QSpinBox* m_layer = nullptr;
    QSpinBox* m_head = nullptr;
    QCustomPlot* m_plot = nullptr;
    QCustomPlot* m_mapsPlot = nullptr;
    QCPCurve* m_points = nullptr;  // the scatter, in point order (owned by m_plot)

    TradeoffOutcomePtr m_outcome;
    ModelConfig m_current;
    int64_t m_highlightKv = 0;
    QString m_key;
    QString m_status;
    QString m_placeholder;
    QStringList m_mapTitles;
    bool m_sweeping = false;
};

// Everything a trade-off sweep depends on (all but the live KV-head count, which only moves the highlight).
QString tradeoffKey(const TradeoffParams& params);

}  // namespace gqa::ui
