#include "ui_bench.h"

#include <QApplication>
#include <QEvent>
#include <QTabWidget>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "color_map_convert.h"
#include "control_panel.h"
#include "main_window.h"
#include "plot_style.h"

namespace gqa::ui {

namespace {

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1)];
}

const char* tabName(int tab) {
    switch (tab) {
        case MainWindow::AttentionTab: return "attention";
        case MainWindow::GroupingTab: return "grouping";
        case MainWindow::MemoryTab: return "memory";
        case MainWindow::LatencyTab: return "latency";
        case MainWindow::CompareTab: return "compare";
    }
    return "?";
}

}  // namespace

HeatmapBench benchHeatmap(int n, int size, int repeats) {
    // A causal map with a local-window pattern, as the engine would deliver it: (1, 1, n, n).
    LayerMaps maps;
    maps.layer = 0;
    maps.heads = {0};
    maps.batch = 1;
    maps.q_len = n;
    maps.kv_len = n;
    maps.probs.assign(static_cast<size_t>(n) * static_cast<size_t>(n), 0.0f);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j)
            maps.probs[static_cast<size_t>(i) * n + j] =
                1.0f / static_cast<float>(1 + i - j) / static_cast<float>(i + 1);

    QCustomPlot plot;
    stylePlot(&plot);
    plot.resize(size, size);
    plot.show();
    QApplication::processEvents();
    auto* map = new QCPColorMap(plot.xAxis, plot.yAxis);
    map->setGradient(attentionGradient());
    map->setInterpolate(false);
    plot.xAxis->setRange(-0.5, n - 0.5);
    plot.yAxis->setRange(-0.5, n - 0.5);
    plot.yAxis->setRangeReversed(true);
    std::vector<double> convert, fresh, cached;
    QElapsedTimer t;
    for (int r = 0; r < repeats; ++r) {
        t.start();
        fillPromptMap(maps, 0, 0, r % 2 ? MapScale::Log : MapScale::Linear, *map->data());
        map->setDataScaleType(r % 2 ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
        map->setDataRange(r % 2 ? QCPRange(kLogFloor, 1.0) : QCPRange(0.0, 1.0));
        convert.push_back(t.nsecsElapsed() / 1e6);
        t.start();
        plot.replot(QCustomPlot::rpImmediateRefresh);
        fresh.push_back(t.nsecsElapsed() / 1e6);
        t.start();
        plot.replot(QCustomPlot::rpImmediateRefresh);
        cached.push_back(t.nsecsElapsed() / 1e6);
    }
    return {median(convert), median(fresh), median(cached)};
}

UiBench::UiBench(MainWindow* window, int changes, QObject* parent)
    : QObject(parent), m_window(window), m_changes(std::max(1, changes)) {
    m_tabs = {MainWindow::AttentionTab, MainWindow::GroupingTab, MainWindow::MemoryTab, MainWindow::LatencyTab,
              MainWindow::CompareTab};
    m_samples.resize(m_tabs.size());
    m_paintFallback.setSingleShot(true);
    m_paintFallback.setInterval(2000);
    // Without an exposed window no paint event comes: then the finished replot counts as the repaint.
    connect(&m_paintFallback, &QTimer::timeout, this, [this] { checkDone(); });
    m_timeout.setSingleShot(true);
    m_timeout.setInterval(30000);
    connect(&m_timeout, &QTimer::timeout, this, [this] {
        std::fprintf(stderr, "gqa-lab: bench-ui: timed out waiting for a result\n");
        emit finished(1);
    });
    connect(m_window, &MainWindow::runRequested, this, &UiBench::onRunRequested);
    connect(m_window, &MainWindow::resultApplied, this, &UiBench::onResultApplied);
    m_clock.start();
}

void UiBench::start() {
    if (m_window->isLoadingModel()) {  // --model: measure the checkpoint, not the synthetic model before it
        QTimer::singleShot(50, this, [this] { start(); });
        return;
    }
    // Wait for the first result before measuring anything.
    if (m_window->result() && m_window->shownRunId() == m_window->requestedRunId()) {
        QTimer::singleShot(0, this, [this] { nextTab(); });
        return;
    }
    auto conn = std::make_shared<QMetaObject::Connection>();
    *conn = connect(m_window, &MainWindow::resultApplied, this, [this, conn](quint64 id) {
        if (id != m_window->requestedRunId()) return;
        disconnect(*conn);
        QTimer::singleShot(50, this, [this] { nextTab(); });
    });
}

void UiBench::nextTab() {
    if (m_tabIndex >= m_tabs.size()) return report();
    m_window->tabs()->setCurrentIndex(m_tabs[m_tabIndex]);
    const ModelConfig cfg = m_window->controlPanel()->config();
    // What the control offers (a checkpoint: the divisors of its own KV-head count).
    m_kvCycle.clear();
    for (int64_t v : m_window->controlPanel()->offeredKvHeads()) m_kvCycle.push_back(v);
    if (m_kvCycle.empty()) {
        // The controls are not populated yet (a checkpoint still loading): look again shortly.
        QTimer::singleShot(100, this, [this] { nextTab(); });
        return;
    }
    m_kvIndex = static_cast<size_t>(std::find(m_kvCycle.begin(), m_kvCycle.end(), cfg.n_kv_heads) - m_kvCycle.begin());
    m_done = 0;
    QTimer::singleShot(50, this, [this] { nextChange(); });
}

void UiBench::nextChange() {
    if (m_done >= m_changes) {
        ++m_tabIndex;
        return nextTab();
    }
    if (m_kvCycle.empty()) return nextTab();
    m_kvIndex = (m_kvIndex + 1) % m_kvCycle.size();
    m_waitId = 0;
    m_applied = false;
    m_timeout.start();
    m_window->controlPanel()->setKvHeads(m_kvCycle[m_kvIndex]);  // the debounce starts here
}

void UiBench::onRunRequested(quint64 id) {
    m_waitId = id;
    m_t0 = m_clock.nsecsElapsed() / 1e6;  // the debounce fired
}

void UiBench::onResultApplied(quint64 id) {
    if (id != m_waitId || m_waitId == 0) return;
    m_tResult = m_clock.nsecsElapsed() / 1e6;
    m_applied = true;
    m_pending.clear();
    for (QCustomPlot* p : m_window->visiblePlots()) {
        m_pending.insert(p, {});
        if (!m_hooked.contains(p)) {
            m_hooked.insert(p);
            p->installEventFilter(this);
            connect(p, &QCustomPlot::beforeReplot, this, [this, p] {
                if (m_pending.contains(p)) m_pending[p].started = true;
            });
            connect(p, &QCustomPlot::afterReplot, this, [this, p] {
                if (m_pending.contains(p)) m_pending[p].replotted = true;
                m_lastEvent = m_clock.nsecsElapsed() / 1e6;
                QTimer::singleShot(0, this, [this] { checkDone(); });
            });
        }
    }
    if (m_window->tabs()->currentIndex() == MainWindow::GroupingTab) {
        // Nothing there waits for the engine; count the diagram's next paint.
        QWidget* w = m_window->tabs()->currentWidget();
        if (!m_hooked.contains(w)) {
            m_hooked.insert(w);
            w->installEventFilter(this);
        }
        m_pending.insert(w, {true, true, false});
        w->update();
    }
    m_paintFallback.start();
    checkDone();
}

bool UiBench::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::Paint && m_applied && m_pending.contains(watched)) {
        PlotState& s = m_pending[watched];
        if (s.started) {
            s.painted = true;
            m_lastEvent = m_clock.nsecsElapsed() / 1e6;
            QTimer::singleShot(0, this, [this] { checkDone(); });
        }
    }
    return QObject::eventFilter(watched, event);
}

void UiBench::checkDone() {
    if (!m_applied) return;
    for (auto it = m_pending.cbegin(); it != m_pending.cend(); ++it)
        if (!it->replotted || (!it->painted && m_paintFallback.isActive())) return;
    m_paintFallback.stop();
    m_applied = false;
    m_timeout.stop();
    const double t1 = std::max(m_lastEvent, m_tResult);
    const RunResult* r = m_window->result().get();
    m_samples[m_tabIndex].push_back(
        {t1 - m_t0, m_tResult - m_t0, t1 - m_tResult, r ? r->prefill.total_ms + r->decode.total_ms : 0.0});
    ++m_done;
    QTimer::singleShot(20, this, [this] { nextChange(); });
}

void UiBench::report() {
    const ModelConfig cfg = m_window->controlPanel()->config();
    std::printf("bench-ui: preset %s, backend %s, prompt %lld, decode %lld, %d KV-head changes per view\n",
                cfg.name.c_str(), qPrintable(m_window->controlPanel()->backend()),
                static_cast<long long>(m_window->controlPanel()->shape().prompt_len),
                static_cast<long long>(m_window->controlPanel()->shape().decode_steps), m_changes);
    std::vector<double> all;
    for (size_t i = 0; i < m_tabs.size(); ++i) {
        std::vector<double> total, engine, gui, phases;
        for (const Sample& s : m_samples[i]) {
            phases.push_back(s.phases_ms);
            total.push_back(s.total_ms);
            engine.push_back(s.engine_ms);
            gui.push_back(s.gui_ms);
            all.push_back(s.total_ms);
        }
        std::printf(
            "bench-ui: %-9s debounce fired -> visible plots repainted: median %7.1f ms, p90 %7.1f ms "
            "(run + view update %6.1f ms, of it prefill+decode %6.1f ms; replot+repaint %6.1f ms)\n",
            tabName(m_tabs[i]), median(total), percentile(total, 0.9), median(engine), median(phases), median(gui));
    }
    const double med = median(all);
    std::printf("bench-ui: all views: median %.1f ms (target < 150 ms: %s)\n", med, med < 150.0 ? "met" : "MISSED");
    const HeatmapBench h = benchHeatmap();
    std::printf(
        "bench-ui: 2048x2048 QCPColorMap in a 900x900 plot: convert %.1f ms, repaint after new data %.1f ms, "
        "repaint of cached image %.1f ms (target < 50 ms: %s)\n",
        h.convert_ms, h.replot_new_data_ms, h.replot_cached_ms, h.replot_new_data_ms < 50.0 ? "met" : "MISSED");
    std::fflush(stdout);
    emit finished(0);
}

}  // namespace gqa::ui
