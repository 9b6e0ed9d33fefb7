// `gqa-lab --bench-ui N`: drive the real window with N KV-head changes per view and measure the time from
// the debounce firing to every visible plot repainted (median), plus a 2048 x 2048 colour-map repaint.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSet>
#include <QTimer>

#include <vector>

class QCustomPlot;

namespace gqa::ui {

class MainWindow;

struct HeatmapBench {
    double convert_ms = 0.0;          // LayerMaps -> QCPColorMapData (fillPromptMap)
    double replot_new_data_ms = 0.0;  // replot + repaint after the data changed (colourizes the image)
    double replot_cached_ms = 0.0;    // replot + repaint of unchanged data
};
// Median of `repeats` runs on an n x n causal map in a size x size plot.
HeatmapBench benchHeatmap(int n = 2048, int size = 900, int repeats = 7);

class UiBench : public QObject {
    Q_OBJECT
public:
    UiBench(MainWindow* window, int changes, QObject* parent = nullptr);
    void start();

signals:
    void finished(int exit_code);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void nextTab();
    void nextChange();
    void onRunRequested(quint64 id);
    void onResultApplied(quint64 id);
    void checkDone();
    void report();

    MainWindow* m_window;
    int m_changes;
    std::vector<int> m_tabs;
    size_t m_tabIndex = 0;
    int m_done = 0;
    std::vector<int64_t> m_kvCycle;
    size_t m_kvIndex = 0;

    quint64 m_waitId = 0;
    QElapsedTimer m_clock;
    double m_t0 = 0.0, m_tResult = 0.0, m_lastEvent = 0.0;
    bool m_applied = false;
    // Per visible plot after a result: replot started, replot finished, painted since the replot started.
    struct PlotState {
        bool started = false, replotted = false, painted = false;
    };
    QHash<QObject*, PlotState> m_pending;
    QSet<QObject*> m_hooked;
    QTimer m_paintFallback;

    struct Sample {
        double total_ms, engine_ms, gui_ms, phases_ms;
    };
    std::vector<std::vector<Sample>> m_samples;  // per tab
    QTimer m_timeout;
};

}  // namespace gqa::ui
