// The Trade-off tab: the MHA -> GQA sweep runs on the worker with one point per divisor of n_q, a click on
// a point sets the control panel's KV heads, and the x-axis switch changes what is plotted. Teaching
// preset with a short prompt: a sweep takes well under a second on 2 cores.
#include <QtTest>

#include <QComboBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>

#include <qcustomplot.h>

#include <memory>

#include "control_panel.h"
#include "main_window.h"
#include "tradeoff_view.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

constexpr int kTimeoutMs = 60000;

MainWindowOptions testOptions() {
    MainWindowOptions o;
    o.use_settings = false;
    o.restore_session = false;
    o.debounce_ms = 30;
    return o;
}

// Divisors of n, ascending: the reference the sweep's points are checked against.
QVector<int64_t> divisors(int64_t n) {
    QVector<int64_t> out;
    for (int64_t d = 1; d <= n; ++d)
        if (n % d == 0) out.push_back(d);
    return out;
}

}  // namespace

class TestTradeoffView : public QObject {
    Q_OBJECT
private:
    std::unique_ptr<MainWindow> m_window;

    // Sweeps the live configuration and waits for the outcome to reach the view.
    bool sweep() {
        TradeoffView* v = m_window->tradeoffView();
        QSignalSpy got(m_window->controller(), &EngineController::tradeoffAvailable);
        m_window->startTradeoff();
        if (!v->isSweeping() || v->cancelButton()->isEnabled() == false) return false;
        return QTest::qWaitFor([&] { return got.count() == 1 && !v->isSweeping(); }, kTimeoutMs);
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        registerMetaTypes();
        m_window = std::make_unique<MainWindow>(testOptions());
        m_window->resize(1400, 900);
        m_window->show();
        m_window->controlPanel()->setDecodeSteps(2);
        m_window->controlPanel()->setPromptLength(24);
        m_window->tabs()->setCurrentIndex(MainWindow::TradeoffTab);
        QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
    }

    void cleanupTestCase() { m_window.reset(); }

    void onePointPerDivisor_data() {
        QTest::addColumn<int>("n_q");
        QTest::newRow("8 query heads") << 8;
        QTest::newRow("6 query heads") << 6;
    }

    void onePointPerDivisor() {
        QFETCH(int, n_q);
        ControlPanel* panel = m_window->controlPanel();
        QVERIFY(panel->setQueryHeads(n_q));
        QVERIFY(panel->setKvHeads(n_q == 8 ? 2 : 3));
        QElapsedTimer clock;
        clock.start();
        QVERIFY(sweep());
        qInfo("sweep of %d query heads: %lld ms", n_q, static_cast<long long>(clock.elapsed()));

        TradeoffView* v = m_window->tradeoffView();
        QVERIFY(v->outcome());
        const TradeoffResult& r = v->outcome()->result;
        QCOMPARE(r.config.n_q_heads, int64_t{n_q});
        QCOMPARE(r.config.n_kv_heads, int64_t{n_q});  // started from MHA
        QCOMPARE(v->plottedKvHeads(), divisors(n_q));
        QCOMPARE(v->plottedX().size(), divisors(n_q).size());
        // One set of maps per point, every query head of every layer run.
        QCOMPARE(v->outcome()->maps.size(), r.points.size());
        for (const auto& layers : v->outcome()->maps) {
            QCOMPARE(static_cast<int64_t>(layers.size()), r.layers_run);
            QCOMPARE(static_cast<int64_t>(layers.front().heads.size()), int64_t{n_q});
        }
        // MHA against itself loses nothing; every coarser grouping of structured weights loses something.
        QCOMPARE(r.points.back().kv_heads, int64_t{n_q});
        QCOMPARE(r.points.back().output_rel_error, 0.0);
        QVERIFY(r.points.front().output_rel_error > 0.0);
        QCOMPARE(v->highlightedKvHeads(), panel->config().n_kv_heads);
    }

    void clickSelectsGrouping() {
        ControlPanel* panel = m_window->controlPanel();
        QVERIFY(panel->setQueryHeads(8));
        QVERIFY(panel->setKvHeads(2));
        QVERIFY(sweep());
        TradeoffView* v = m_window->tradeoffView();
        QCOMPARE(v->highlightedKvHeads(), int64_t{2});

        // A real mouse click on the n_kv = 4 point.
        const int i4 = static_cast<int>(v->plottedKvHeads().indexOf(4));
        QVERIFY(i4 >= 0);
        QCustomPlot* plot = v->plot();
        plot->replot(QCustomPlot::rpImmediateRefresh);
        QCPAxisRect* rect = plot->axisRects().front();
        const QPoint pos(qRound(rect->axis(QCPAxis::atBottom)->coordToPixel(v->plottedX()[i4])),
                         qRound(rect->axis(QCPAxis::atLeft)->coordToPixel(v->plottedY()[i4])));
        QSignalSpy chosen(v, &TradeoffView::kvHeadsChosen);
        QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier, pos);
        QCOMPARE(chosen.count(), 1);
        QCOMPARE(chosen.front().front().value<int64_t>(), int64_t{4});
        QCOMPARE(panel->config().n_kv_heads, int64_t{4});
        QCOMPARE(v->highlightedKvHeads(), int64_t{4});
        // The click is an edit like any other: the debounce re-runs the model.
        QVERIFY(m_window->debounceTimer()->isActive());

        // The handler itself, for the MQA point.
        v->clickPoint(0);
        QCOMPARE(panel->config().n_kv_heads, int64_t{1});
        QCOMPARE(v->highlightedKvHeads(), int64_t{1});
        // Moving the highlight does not sweep again: the sweep already holds every grouping.
        QVERIFY(!v->isSweeping());
    }

    void xAxisSwitchChangesX() {
        TradeoffView* v = m_window->tradeoffView();
        QVERIFY(v->outcome());
        const TradeoffResult& r = v->outcome()->result;
        v->setXAxis(TradeoffView::XAxis::KvCacheBytes);
        QVERIFY(!v->spreadBars());  // bytes are analytic: no spread
        const QVector<double> bytes_x = v->plottedX();
        const QVector<int64_t> kv = v->plottedKvHeads();
        QCOMPARE(bytes_x.size(), kv.size());
        // Analytic: the KV cache is linear in n_kv (2 * layers * batch * ctx * n_kv * head_dim * bytes).
        const double per_head = bytes_x.back() / static_cast<double>(kv.back());
        for (int i = 0; i < kv.size(); ++i)
            QVERIFY2(qAbs(bytes_x[i] - per_head * static_cast<double>(kv[i])) <= 1e-9 * bytes_x.back(),
                     qPrintable(QStringLiteral("point %1").arg(i)));

        v->xAxisCombo()->setCurrentIndex(
            v->xAxisCombo()->findData(static_cast<int>(TradeoffView::XAxis::DecodeAttentionMs)));
        QCOMPARE(v->xAxis(), TradeoffView::XAxis::DecodeAttentionMs);
        const QVector<double> ms_x = v->plottedX();
        QCOMPARE(ms_x.size(), bytes_x.size());
        QVERIFY(ms_x != bytes_x);
        for (int i = 0; i < ms_x.size(); ++i) QCOMPARE(ms_x[i], r.points[static_cast<size_t>(i)].decode_attention_ms);
        // Latency on x: every point carries its repeats' min–max as horizontal error bars.
        QCPErrorBars* spread = v->spreadBars();
        QVERIFY(spread);
        QCOMPARE(spread->errorType(), QCPErrorBars::etKeyError);
        QCOMPARE(spread->dataCount(), ms_x.size());
        for (int i = 0; i < ms_x.size(); ++i) {
            const TimingStats& t = r.points[static_cast<size_t>(i)].decode_attention;
            QVERIFY(t.repeats >= 1);
            QCOMPARE(t.median_ms, ms_x[i]);
            QCOMPARE(spread->data()->at(i).errorMinus, t.median_ms - t.min_ms);
            QCOMPARE(spread->data()->at(i).errorPlus, t.max_ms - t.median_ms);
        }
        // y (quality loss) does not depend on the x choice.
        QCOMPARE(v->plottedY().size(), ms_x.size());
        for (int i = 0; i < ms_x.size(); ++i)
            QCOMPARE(v->plottedY()[i], r.points[static_cast<size_t>(i)].output_rel_error);
        QVERIFY(v->plot()->xAxis != nullptr);
    }

    void mapsFollowSelection() {
        TradeoffView* v = m_window->tradeoffView();
        QVERIFY(v->outcome());
        QCPColorMap* maps[3] = {};
        int n = 0;
        for (int i = 0; i < v->mapsPlot()->plottableCount() && n < 3; ++i)
            if (auto* m = qobject_cast<QCPColorMap*>(v->mapsPlot()->plottable(i))) maps[n++] = m;
        QCOMPARE(n, 3);
        // Difference = converted - MHA, cell by cell.
        const int nx = maps[2]->data()->keySize(), ny = maps[2]->data()->valueSize();
        QVERIFY(nx > 1 && ny > 1);
        for (int i = 0; i < ny; ++i)
            for (int j = 0; j <= i && j < nx; ++j)
                QVERIFY(qAbs(maps[2]->data()->cell(j, i) -
                             (maps[1]->data()->cell(j, i) - maps[0]->data()->cell(j, i))) < 1e-6);
    }

    void cancelStopsSweep() {
        TradeoffView* v = m_window->tradeoffView();
        QSignalSpy failed(m_window->controller(), &EngineController::tradeoffFailed);
        QSignalSpy got(m_window->controller(), &EngineController::tradeoffAvailable);
        m_window->startTradeoff();
        QVERIFY(v->cancelButton()->isEnabled());
        QTest::mouseClick(v->cancelButton(), Qt::LeftButton);
        QVERIFY(QTest::qWaitFor([&] { return failed.count() + got.count() > 0; }, kTimeoutMs));
        // Either it was cancelled, or it had already finished (a fast machine): never left hanging.
        QVERIFY(!v->isSweeping());
        QVERIFY(v->sweepButton()->isEnabled());
        QVERIFY(!v->cancelButton()->isEnabled());
        if (failed.count()) QCOMPARE(failed.front().at(2).toBool(), true);
    }
};

QTEST_MAIN(TestTradeoffView)
#include "tst_tradeoff_view.moc"
