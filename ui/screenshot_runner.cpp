#include "screenshot_runner.h"

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QSlider>
#include <QSpinBox>
#include <QTabWidget>

#include <qcustomplot.h>

#include <cstdio>

#include "attention_view.h"
#include "control_panel.h"
#include "latency_view.h"
#include "main_window.h"
#include "tradeoff_view.h"

namespace gqa::ui {

ScreenshotRunner::ScreenshotRunner(MainWindow* window, QString dir, QObject* parent)
    : QObject(parent), m_window(window), m_dir(std::move(dir)) {
    m_timeout.setSingleShot(true);
    m_timeout.setInterval(900000);  // a published preset builds seconds of synthetic weights per run
    connect(&m_timeout, &QTimer::timeout, this, [this] { fail(QStringLiteral("timed out waiting for results")); });
    connect(m_window, &MainWindow::resultApplied, this, [this](quint64 id) {
        if (id != m_window->requestedRunId() || !m_then) return;
        auto then = std::move(m_then);
        m_then = nullptr;
        QTimer::singleShot(0, this, then);
    });
    connect(m_window, &MainWindow::runFailureShown, this, [this](quint64, const QString& message) {
        if (m_then) fail(QStringLiteral("run failed: %1").arg(message));
    });
}

void ScreenshotRunner::start() {
    if (!QDir().mkpath(m_dir)) return fail(QStringLiteral("cannot create %1").arg(m_dir));
    m_timeout.start();
    if (m_window->isLoadingModel()) {
        // --model: wait for the checkpoint, then for the run of it (setModel requests one).
        auto* poll = new QTimer(this);
        poll->setInterval(50);
        connect(poll, &QTimer::timeout, this, [this, poll] {
            if (m_window->isLoadingModel()) return;
            poll->deleteLater();
            if (!m_window->model())
                return fail(QStringLiteral("the model did not load: %1").arg(m_window->statusText()));
            if (m_window->shownRunId() == m_window->requestedRunId() && m_window->result())
                QTimer::singleShot(0, this, [this] { stepPinMha(); });
            else
                afterNextResult([this] { stepPinMha(); });
        });
        poll->start();
        return;
    }
    // The window requested its first run in its constructor.
    if (m_window->shownRunId() == m_window->requestedRunId() && m_window->result())
        QTimer::singleShot(0, this, [this] { stepPinMha(); });
    else
        afterNextResult([this] { stepPinMha(); });
}

void ScreenshotRunner::afterNextResult(std::function<void()> then) {
    m_then = std::move(then);
}

void ScreenshotRunner::stepPinMha() {
    // Pin the same model with one K/V head per query head, so memory, latency and compare show GQA against MHA.
    ControlPanel* panel = m_window->controlPanel();
    m_defaultKv = panel->config().n_kv_heads;
    afterNextResult([this] {
        m_window->pin();
        stepBackToDefault();
    });
    panel->setKvHeads(panel->config().n_q_heads);
    m_window->requestRunNow();
}

void ScreenshotRunner::stepBackToDefault() {
    afterNextResult([this] {
        // The sweep runs the model once per KV-head count: skip it where one run already takes seconds.
        const RunResult* r = m_window->result().get();
        if (r && r->prefill.total_ms + r->decode.total_ms > 2000.0)
            stepTradeoff();
        else
            stepSweep();
    });
    m_window->controlPanel()->setKvHeads(m_defaultKv);
    m_window->requestRunNow();
}

void ScreenshotRunner::stepSweep() {
    EngineController* c = m_window->controller();
    auto conn = std::make_shared<QMetaObject::Connection>();
    auto conn2 = std::make_shared<QMetaObject::Connection>();
    *conn = connect(c, &EngineController::sweepFinished, this, [this, conn, conn2](quint64) {
        disconnect(*conn);
        disconnect(*conn2);
        QTimer::singleShot(0, this, [this] { stepTradeoff(); });
    });
    *conn2 = connect(c, &EngineController::sweepFailed, this, [this, conn, conn2](quint64, const QString& m, bool) {
        disconnect(*conn);
        disconnect(*conn2);
        fail(QStringLiteral("sweep failed: %1").arg(m));
    });
    m_window->startSweep();
}

void ScreenshotRunner::stepTradeoff() {
    // The trade-off sweep runs few layers and a short prompt even for big presets (tradeoff_view.h).
    EngineController* c = m_window->controller();
    auto conn = std::make_shared<QMetaObject::Connection>();
    auto conn2 = std::make_shared<QMetaObject::Connection>();
    *conn =
        connect(c, &EngineController::tradeoffAvailable, this, [this, conn, conn2](quint64, const TradeoffOutcomePtr&) {
            disconnect(*conn);
            disconnect(*conn2);
            QTimer::singleShot(0, this, [this] { stepGrouping(); });
        });
    *conn2 = connect(c, &EngineController::tradeoffFailed, this, [this, conn, conn2](quint64, const QString& m, bool) {
        disconnect(*conn);
        disconnect(*conn2);
        fail(QStringLiteral("trade-off sweep failed: %1").arg(m));
    });
    m_window->startTradeoff();
}

void ScreenshotRunner::stepGrouping() {
    // Opening the Head statistics tab starts the analysis of the live model and its coarser grouping.
    EngineController* c = m_window->controller();
    auto conn = std::make_shared<QMetaObject::Connection>();
    auto conn2 = std::make_shared<QMetaObject::Connection>();
    *conn = connect(c, &EngineController::groupingAnalysisAvailable, this,
                    [this, conn, conn2](quint64, const GroupingAnalysisPtr&) {
                        disconnect(*conn);
                        disconnect(*conn2);
                        QTimer::singleShot(0, this, [this] { shoot(); });
                    });
    *conn2 = connect(c, &EngineController::groupingAnalysisFailed, this,
                     [this, conn, conn2](quint64, const QString& m, bool) {
                         disconnect(*conn);
                         disconnect(*conn2);
                         fail(QStringLiteral("head analysis failed: %1").arg(m));
                     });
    m_window->tabs()->setCurrentIndex(MainWindow::HeadStatsTab);
}

bool ScreenshotRunner::grabTab(int tab, const QString& name) {
    m_window->tabs()->setCurrentIndex(tab);
    for (int i = 0; i < 3; ++i) QApplication::processEvents();
    for (QCustomPlot* plot : m_window->plotsOfTab(tab)) plot->replot(QCustomPlot::rpImmediateRefresh);
    QApplication::processEvents();
    const QString path = QDir(m_dir).filePath(name + QStringLiteral(".png"));
    const bool ok = m_window->grab().save(path, "PNG");
    std::printf("%s %s\n", ok ? "wrote" : "FAILED", qPrintable(path));
    m_written += ok ? 1 : 0;
    return ok;
}

void ScreenshotRunner::shoot() {
    AttentionView* att = m_window->attentionView();
    bool ok = true;
    ok &= grabTab(MainWindow::AttentionTab, QStringLiteral("attention"));
    att->setViewState(att->layer(), AttentionView::Mode::SingleHead, 0, false, false, 0);
    ok &= grabTab(MainWindow::AttentionTab, QStringLiteral("attention_single_head"));
    const int last_step = att->stepSlider()->maximum();
    att->setViewState(att->layer(), AttentionView::Mode::Grid, 0, true, true, last_step / 2);
    ok &= grabTab(MainWindow::AttentionTab, QStringLiteral("attention_decode_log"));
    att->setViewState(att->layer(), AttentionView::Mode::Grid, 0, false, false, 0);
    ok &= grabTab(MainWindow::GroupingTab, QStringLiteral("grouping"));
    ok &= grabTab(MainWindow::MemoryTab, QStringLiteral("memory"));
    ok &= grabTab(MainWindow::LatencyTab, QStringLiteral("latency"));
    ok &= grabTab(MainWindow::CompareTab, QStringLiteral("compare"));
    ok &= grabTab(MainWindow::TradeoffTab, QStringLiteral("tradeoff"));
    ok &= grabTab(MainWindow::HeadStatsTab, QStringLiteral("head_statistics"));
    ok &= grabTab(MainWindow::DiversityTab, QStringLiteral("head_diversity"));
    m_window->tabs()->setCurrentIndex(MainWindow::AttentionTab);
    m_timeout.stop();
    emit finished(ok ? 0 : 1);
}

void ScreenshotRunner::fail(const QString& why) {
    m_timeout.stop();
    m_then = nullptr;
    std::fprintf(stderr, "gqa-lab: screenshot: %s\n", qPrintable(why));
    emit finished(1);
}

}  // namespace gqa::ui
