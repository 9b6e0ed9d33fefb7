// Trade-off: the live model converted to MHA, then to every coarser KV grouping (runTradeoff on the
// worker). A scatter with one point per KV-head count, x = what the grouping saves (KV-cache bytes or
// decode-attention ms), y = what it loses (output relative error); the live setting is highlighted and
// clicking a point selects that grouping everywhere. Beside it one query head's attention map in the
// MHA model and the converted one, and their difference. On a loaded checkpoint the sweep starts from the
// checkpoint itself, y can be the prompt's perplexity or the next-token KL, both conversion methods are
// drawn, and the highlighted grouping can be saved as a converted Hugging Face directory.
#pragma once

#include <QWidget>

#include <vector>

#include "engine_types.h"

class QComboBox;
class QCPCurve;
class QCPErrorBars;
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
    // What a grouping loses: the prompt's perplexity (real models open on it), the KL divergence of the
    // next-token distributions from the starting model, or the relative error of the final hidden state.
    enum class YAxis { OutputRelError = 0, Perplexity = 1, NextTokenKl = 2 };

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
    YAxis yAxis() const;
    void setYAxis(YAxis axis);
    // Asks the window to write the checkpoint at the highlighted grouping (the sweep's method) into `dir`;
    // the button asks for the directory first. Only a real model's sweep can be saved.
    void saveConvertedTo(const QString& dir);
    void onSaved(const QString& dir, int64_t n_kv_heads);
    void onSaveFailed(const QString& dir, const QString& message);
    // The text whose perplexity a real model's sweep measures (empty = the prompt); set by "Quality text…".
    const QString& qualityText() const { return m_qualityText; }
    const QString& qualitySource() const { return m_qualitySource; }
    void setQualityText(const QString& text, const QString& source);
    // What a click on the point with this index does: asks for that KV-head count everywhere.
    void clickPoint(int index);

    const TradeoffOutcomePtr& outcome() const { return m_outcome; }
    int64_t highlightedKvHeads() const { return m_highlightKv; }
    QVector<double> plottedX() const;  // in point order (ascending KV heads), axis units
    QVector<double> plottedY() const;
    // The other conversion method's points (real models), in the same order.
    QVector<double> plottedOtherY() const;
    QString summaryText() const;
    QVector<int64_t> plottedKvHeads() const;
    QString placeholderText() const { return m_outcome ? QString() : m_placeholder; }  // the scatter's note
    const QStringList& mapTitles() const { return m_mapTitles; }

    QList<QCustomPlot*> plots() const { return {m_plot, m_mapsPlot}; }
    QCustomPlot* plot() const { return m_plot; }
    QCustomPlot* mapsPlot() const { return m_mapsPlot; }
    QCPErrorBars* spreadBars() const { return m_spreadBars; }  // latency on x only; null otherwise
    QPushButton* sweepButton() const { return m_sweep; }
    QPushButton* cancelButton() const { return m_cancel; }
    QProgressBar* progressBar() const { return m_progress; }
    QComboBox* xAxisCombo() const { return m_xAxis; }
    QComboBox* yAxisCombo() const { return m_yAxis; }
    QPushButton* saveButton() const { return m_save; }
    QPushButton* qualityTextButton() const { return m_textButton; }
    QComboBox* methodCombo() const { return m_method; }
    QSpinBox* layerSpin() const { return m_layer; }
    QSpinBox* headSpin() const { return m_head; }

signals:
    void sweepRequested();
    void cancelRequested();
    void kvHeadsChosen(int64_t n_kv);
    void saveConvertedRequested(const QString& dir, int64_t n_kv_heads, gqa::ConvertMethod method);

private:
    void rebuildScatter();
    void rebuildMaps();
    void updateSummary();
    int pointIndexOf(int64_t n_kv) const;
    void updateSaveButton();
    double yOf(const TradeoffPoint& p) const;

    QLabel* m_summary = nullptr;
    QPushButton* m_sweep = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QComboBox* m_method = nullptr;
    QComboBox* m_xAxis = nullptr;
    QComboBox* m_yAxis = nullptr;
    QPushButton* m_save = nullptr;
    QPushButton* m_textButton = nullptr;
    QCPCurve* m_otherPoints = nullptr;
    bool m_yChosen = false;  // the user picked the y axis: a real model's sweep no longer switches it
    QString m_qualityText, m_qualitySource;
    QString m_saveStatus;
    QSpinBox* m_layer = nullptr;
    QSpinBox* m_head = nullptr;
    QCustomPlot* m_plot = nullptr;
    QCustomPlot* m_mapsPlot = nullptr;
    QCPCurve* m_points = nullptr;          // the scatter, in point order (owned by m_plot)
    QCPErrorBars* m_spreadBars = nullptr;  // latency on x: the attention timings' min–max (owned by m_plot)

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
