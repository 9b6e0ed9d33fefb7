// Timings with their spread in the app: error bars on every latency plot (per layer, per op, the KV-head sweep),
// sweeps whose ordering is inside the noise marked, "no measurable difference" in Compare, and spreads kept
// through a saved session. Real runs of the teaching preset where the numbers come from the engine; hand-made
// sweep points and snapshots where the test needs spreads that overlap (or not) by construction.
#include <QtTest>

#include <QJsonObject>
#include <QTableWidget>

#include <qcustomplot.h>

#include <cmath>
#include <memory>

#include "compare_view.h"
#include "gqa/jobs.h"
#include "gqa/presets.h"
#include "latency_view.h"
#include "snapshot.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

// The error-bar plottables of a plot, in creation order.
QList<QCPErrorBars*> errorBarsOf(QCustomPlot* plot) {
    QList<QCPErrorBars*> out;
    for (int i = 0; i < plot->plottableCount(); ++i)
        if (auto* e = qobject_cast<QCPErrorBars*>(plot->plottable(i))) out << e;
    return out;
}

TimingStats stats(double median, double lo, double hi, int repeats = 5) {
    TimingStats t;
    t.median_ms = median;
    t.min_ms = lo;
    t.max_ms = hi;
    t.q1_ms = 0.5 * (lo + median);
    t.q3_ms = 0.5 * (median + hi);
    t.repeats = repeats;
    return t;
}

SweepPoint sweepPoint(int64_t n_kv, const TimingStats& decode, int64_t steps) {
    SweepPoint p;
    p.n_kv_heads = n_kv;
    p.group_size = 8 / n_kv;
    p.layers_run = 4;
    p.decode = decode;
    p.decode_ms_per_token = decode.median_ms / static_cast<double>(steps);
    p.decode_pred_ms_per_token = 0.1;
    p.kv_cache_bytes = 1024 * n_kv;
    return p;
}

// A snapshot whose prefill and decode spreads are given (median = the value the metrics read).
Snapshot timedSnapshot(const TimingStats& prefill, const TimingStats& decode) {
    Snapshot s;
    s.label = QStringLiteral("hand-made");
    s.config = *findPreset("teaching");
    s.shape.batch = 1;
    s.shape.prompt_len = 32;
    s.shape.decode_steps = 4;
    s.layers_run = 4;
    s.prefill_total = prefill;
    s.decode_total = decode;
    s.prefill_ms = prefill.median_ms;
    s.decode_ms = decode.median_ms;
    s.prefill_tokens_per_s = 32.0 / (prefill.median_ms * 1e-3);
    s.decode_tokens_per_s = 4.0 / (decode.median_ms * 1e-3);
    s.decode_ops[static_cast<int>(Op::Attention)] =
        stats(0.2 * decode.median_ms, 0.2 * decode.min_ms, 0.2 * decode.max_ms);
    s.decode_measured_ms[static_cast<int>(Op::Attention)] = 0.2 * decode.median_ms;
    return s;
}

// With GQA_SCREENSHOT_DIR set, a PNG of `w` for a person to look at (the test itself reads the plots).
void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("GQA_SCREENSHOT_DIR");
    if (dir.isEmpty()) return;
    w->show();
    QVERIFY(QTest::qWaitForWindowExposed(w));
    for (QCustomPlot* p : w->findChildren<QCustomPlot*>()) p->replot();
    QVERIFY(w->grab().save(dir + QLatin1Char('/') + name));
}

int rowOf(QTableWidget* t, const QString& metric) {
    for (int r = 0; r < t->rowCount(); ++r)
        if (t->item(r, 0) && t->item(r, 0)->text() == metric) return r;
    return -1;
}

}  // namespace

class TestSpread : public QObject {
    Q_OBJECT
private:
    AnalysisPtr m_analysis;
    RunResultPtr m_result;

private slots:
    void initTestCase() {
        registerMetaTypes();
        RunParams p;
        p.config = *findPreset("teaching");
        p.shape.batch = 1;
        p.shape.prompt_len = 32;
        p.shape.decode_steps = 4;
        DeviceInfo d;
        d.backend = "cpu";
        d.name = "test CPU";
        d.total_bytes = d.available_bytes = int64_t{8} << 30;
        m_analysis = std::make_shared<Analysis>(planRun(p, d, Ceilings{50e9, 100e9, "fake"}));
        auto backend = createCpuBackend();
        RunRequest req;
        req.config = p.config;
        req.shape = p.shape;
        req.repeat.repeats = 5;  // a real spread from five timed repeats
        auto r = runModel(*backend, req);
        QVERIFY2(r, r ? "" : r.error().message.c_str());
        QCOMPARE(r->repeats, 5);
        m_result = std::make_shared<const RunResult>(std::move(r).value());
    }

    // Per layer: one error bar per layer from the top of its stack, spanning the layer total's min to max;
    // per op: one per op on the measured bars. Both phases.
    void latencyPlotsHaveErrorBars() {
        LatencyView view;
        view.resize(1200, 800);
        view.setData(m_analysis, m_result, std::nullopt);
        const RunResult& r = *m_result;

        const QList<QCPErrorBars*> layer_bars = errorBarsOf(view.layerPlot());
        QCOMPARE(layer_bars.size(), 2);  // prefill, decode
        for (int ph = 0; ph < 2; ++ph) {
            const PhaseProfile& prof = ph == 0 ? r.prefill : r.decode;
            QCOMPARE(layer_bars[ph]->dataCount(), static_cast<int>(prof.layer_ms.size()));
            QCOMPARE(prof.layer_total.size(), prof.layer_ms.size());
            for (size_t l = 0; l < prof.layer_ms.size(); ++l) {
                const TimingStats& t = prof.layer_total[l];
                QCOMPARE(t.repeats, 5);
                QVERIFY(t.min_ms <= t.median_ms && t.median_ms <= t.max_ms);
                QCOMPARE(layer_bars[ph]->data()->at(static_cast<int>(l)).errorMinus, t.median_ms - t.min_ms);
                QCOMPARE(layer_bars[ph]->data()->at(static_cast<int>(l)).errorPlus, t.max_ms - t.median_ms);
            }
            // Drawn from the top of the stack: the bars it is attached to are the last op's.
            auto* top = qobject_cast<QCPBars*>(layer_bars[ph]->dataPlottable());
            QVERIFY(top);
            QCOMPARE(top->name(), QString::fromLatin1(opName(static_cast<Op>(kNumOps - 1))));
        }

        const QList<QCPErrorBars*> op_bars = errorBarsOf(view.opPlot());
        QCOMPARE(op_bars.size(), 2);  // measured prefill, measured decode (the roofline has no spread)
        for (int ph = 0; ph < 2; ++ph) {
            const PhaseProfile& prof = ph == 0 ? r.prefill : r.decode;
            QCOMPARE(op_bars[ph]->dataCount(), kNumOps);
            for (int k = 0; k < kNumOps; ++k) {
                const OpProfile& o = prof.ops[static_cast<size_t>(k)];
                QCOMPARE(o.measured.repeats, 5);
                QCOMPARE(op_bars[ph]->data()->at(k).errorMinus, std::max(0.0, o.measured_ms - o.measured.min_ms));
                QCOMPARE(op_bars[ph]->data()->at(k).errorPlus, std::max(0.0, o.measured.max_ms - o.measured_ms));
            }
        }
        // The summary gives each phase with its spread and repeat count.
        QVERIFY2(view.summaryText().contains(QStringLiteral("5 repeats")), qPrintable(view.summaryText()));

        // A pinned snapshot of the same run: its measured op bars get their own error bars too, and the
        // same numbers compared with themselves are "no measurable difference".
        const Snapshot pinned = makeSnapshot(*m_analysis, m_result.get());
        view.setData(m_analysis, m_result, pinned);
        QCOMPARE(errorBarsOf(view.opPlot()).size(), 4);
        QVERIFY2(view.summaryText().contains(QStringLiteral("no measurable difference")),
                 qPrintable(view.summaryText()));
        saveShot(&view, QStringLiteral("latency_spread.png"));
    }

    // The sweep: error bars on the measured decode points (per token), and neighbours whose spreads overlap
    // are named as "within the noise" — here n_kv 4 and 8 overlap, 2 and 4 do not.
    void sweepMarksOrderingInsideTheNoise() {
        LatencyView view;
        view.resize(1200, 800);
        view.setData(m_analysis, m_result, std::nullopt);
        const int64_t steps = 4;
        const std::vector<SweepPoint> points = {sweepPoint(8, stats(40.0, 36.0, 44.0), steps),
                                                sweepPoint(4, stats(42.0, 40.0, 48.0), steps),
                                                sweepPoint(2, stats(20.0, 19.2, 20.8), steps)};
        view.onSweepStarted(3);
        for (size_t i = 0; i < points.size(); ++i) view.onSweepPoint(points[i], static_cast<int>(i) + 1, 3);
        view.onSweepFinished();
        QCOMPARE(view.sweepTies(), (std::vector<std::pair<int64_t, int64_t>>{{4, 8}}));
        QVERIFY2(view.sweepStatusText().contains(QStringLiteral("n_kv 4 ≈ 8")), qPrintable(view.sweepStatusText()));
        QVERIFY(view.sweepStatusText().contains(QStringLiteral("within the noise")));
        const QList<QCPErrorBars*> bars = errorBarsOf(view.sweepPlot());
        QCOMPARE(bars.size(), 1);
        QCOMPARE(bars[0]->dataCount(), 3);
        // In axis order (n_kv 2, 4, 8), per token: the decode phase's min and max divided by the steps.
        const double want_minus[] = {0.8 / 4, 2.0 / 4, 4.0 / 4}, want_plus[] = {0.8 / 4, 6.0 / 4, 4.0 / 4};
        for (int i = 0; i < 3; ++i) {
            QVERIFY(std::abs(bars[0]->data()->at(i).errorMinus - want_minus[i]) < 1e-12);
            QVERIFY(std::abs(bars[0]->data()->at(i).errorPlus - want_plus[i]) < 1e-12);
        }
        // The mark is in the plot.
        bool marked = false;
        for (int i = 0; i < view.sweepPlot()->itemCount(); ++i)
            if (auto* t = qobject_cast<QCPItemText*>(view.sweepPlot()->item(i)))
                marked = marked || t->text().contains(QStringLiteral("within noise"));
        QVERIFY(marked);
        saveShot(&view, QStringLiteral("latency_sweep_noise.png"));

        // Disjoint spreads everywhere: no mark.
        view.onSweepStarted(2);
        view.onSweepPoint(sweepPoint(8, stats(40.0, 39.0, 41.0), steps), 1, 2);
        view.onSweepPoint(sweepPoint(4, stats(30.0, 29.0, 31.0), steps), 2, 2);
        view.onSweepFinished();
        QVERIFY(view.sweepTies().empty());
        QVERIFY(!view.sweepStatusText().contains(QStringLiteral("noise")));
    }

    // Compare: a metric whose live and pinned min–max intervals overlap reads "no measurable difference" in
    // the table and is listed; one whose intervals are apart keeps its plain ratio. The values show their
    // spread in brackets, and the ratio chart carries error bars.
    void compareSaysNoMeasurableDifference() {
        CompareView view;
        view.resize(1200, 700);
        // Prefill: 10 (9–12) against 11 (10–13) overlap. Decode: 20 (19–21) against 40 (38–42) do not.
        const Snapshot live = timedSnapshot(stats(10.0, 9.0, 12.0), stats(20.0, 19.0, 21.0));
        const Snapshot pinned = timedSnapshot(stats(11.0, 10.0, 13.0), stats(40.0, 38.0, 42.0));
        view.setData(live, pinned);
        const QStringList same = view.noMeasurableDifference();
        QVERIFY2(same.contains(QStringLiteral("Prefill per layer")), qPrintable(same.join(", ")));
        QVERIFY(same.contains(QStringLiteral("Prefill tokens/s (layers run)")));
        QVERIFY(!same.contains(QStringLiteral("Decode per token per layer")));
        QVERIFY(!same.contains(QStringLiteral("Decode tokens/s (layers run)")));
        QVERIFY(!same.contains(QStringLiteral("Attention op, decode (all steps, per layer)")));
        QTableWidget* t = view.table();
        const int pre = rowOf(t, QStringLiteral("Prefill per layer"));
        const int dec = rowOf(t, QStringLiteral("Decode per token per layer"));
        QVERIFY(pre >= 0 && dec >= 0);
        QVERIFY2(t->item(pre, 3)->text().contains(QStringLiteral("no measurable difference")),
                 qPrintable(t->item(pre, 3)->text()));
        QCOMPARE(t->item(dec, 3)->text(), QStringLiteral("0.5×"));
        // Per layer (4 layers): 2.5 ms with its 2.25–3 ms interval.
        QVERIFY2(t->item(pre, 1)->text().contains(QStringLiteral("(")), qPrintable(t->item(pre, 1)->text()));
        QVERIFY(!errorBarsOf(view.plot()).isEmpty());
        saveShot(&view, QStringLiteral("compare_spread.png"));

        // Without spreads (a session saved before they were kept): plain ratios, nothing claimed.
        Snapshot old_live = live, old_pinned = pinned;
        old_live.prefill_total = old_pinned.prefill_total = TimingStats{};
        old_live.decode_total = old_pinned.decode_total = TimingStats{};
        old_live.decode_ops = old_pinned.decode_ops = {};
        view.setData(old_live, old_pinned);
        QVERIFY(view.noMeasurableDifference().isEmpty());
    }

    // Spreads survive a saved session; a file without them still loads (spreads unknown); a malformed one is
    // refused with the field named.
    void snapshotKeepsSpreads() {
        const Snapshot s = makeSnapshot(*m_analysis, m_result.get());
        QCOMPARE(s.prefill_total.repeats, 5);
        QString error;
        auto back = snapshotFromJson(snapshotToJson(s), &error);
        QVERIFY2(back, qPrintable(error));
        QCOMPARE(back->prefill_total.median_ms, s.prefill_total.median_ms);
        QCOMPARE(back->prefill_total.min_ms, s.prefill_total.min_ms);
        QCOMPARE(back->decode_total.max_ms, s.decode_total.max_ms);
        QCOMPARE(back->decode_total.repeats, 5);
        for (int k = 0; k < kNumOps; ++k) {
            QCOMPARE(back->prefill_ops[k].max_ms, s.prefill_ops[k].max_ms);
            QCOMPARE(back->decode_ops[k].min_ms, s.decode_ops[k].min_ms);
        }

        QJsonObject old = snapshotToJson(s);
        for (const char* k : {"prefill_total", "decode_total", "prefill_ops", "decode_ops"})
            old.remove(QLatin1String(k));
        back = snapshotFromJson(old, &error);
        QVERIFY2(back, qPrintable(error));
        QCOMPARE(back->prefill_total.repeats, 0);
        QCOMPARE(back->prefill_total.median_ms, s.prefill_ms);  // the median alone, shown without a spread
        // Saved again, it still has no spread, and loads again.
        const auto again = snapshotFromJson(snapshotToJson(*back), &error);
        QVERIFY2(again, qPrintable(error));
        QCOMPARE(again->prefill_total.repeats, 0);
        QCOMPARE(again->decode_total.median_ms, s.decode_ms);
        QCOMPARE(back->prefill_ms, s.prefill_ms);

        QJsonObject bad = snapshotToJson(s);
        QJsonObject pt = bad.value(QStringLiteral("prefill_total")).toObject();
        pt[QStringLiteral("min_ms")] = pt.value(QStringLiteral("max_ms")).toDouble() + 1.0;
        bad[QStringLiteral("prefill_total")] = pt;
        QVERIFY(!snapshotFromJson(bad, &error));
        QVERIFY2(error.contains(QStringLiteral("prefill_total")), qPrintable(error));
    }
};

QTEST_MAIN(TestSpread)
#include "tst_spread.moc"
