// One regression test per bug of issue 9 ("found when tried as a new user would"); each failed on the code
// before the fix. Small crafted results and the fake controller keep the suite to a few seconds.
#include <QtTest>

#include <QComboBox>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QSpinBox>
#include <QTableWidget>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "attention_view.h"
#include "compare_view.h"
#include "control_panel.h"
#include "gqa/presets.h"
#include "latency_view.h"
#include "main_window.h"
#include "memory_view.h"
#include "plot_export.h"
#include "snapshot.h"
#include "tradeoff_view.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

class FakeController : public EngineController {
public:
    quint64 requestRun(const RunParams& p) override {
        params.push_back(p);
        return ++last;
    }
    void cancelRun() override { ++cancels; }
    quint64 requestSweep(const RunParams&) override { return ++last; }
    void cancelSweep() override {}
    void requestBackends() override {}
    RunProgress runProgress() const override { return {}; }
    quint64 latestRunId() const override { return last; }
    bool isBusy() const override { return busy; }
    bool isSweeping() const override { return false; }

    std::vector<RunParams> params;
    quint64 last = 0;
    int cancels = 0;
    bool busy = false;
};

MainWindowOptions testOptions() {
    MainWindowOptions o;
    o.use_settings = false;
    o.restore_session = false;
    o.debounce_ms = 20;
    return o;
}

DeviceInfo fakeDevice(int64_t bytes) {
    DeviceInfo d;
    d.backend = "cpu";
    d.name = "Fake CPU";
    d.total_bytes = bytes;
    d.available_bytes = bytes;
    return d;
}

ModelConfig teaching() {
    return findPreset("teaching").value();
}

// A result with one layer of prompt maps, every query head, weight(i, j) from `w` (causal: j <= i).
RunResultPtr craftedResult(int64_t n_q, int64_t n_kv, int64_t T,
                           const std::function<double(int64_t, int64_t, int64_t)>& w) {
    auto r = std::make_shared<RunResult>();
    r->config = teaching();
    r->config.n_q_heads = n_q;
    r->config.n_kv_heads = n_kv;
    r->config.max_seq = std::max<int64_t>(r->config.max_seq, T + 1);
    r->layers_run = 1;
    r->shape.batch = 1;
    r->shape.prompt_len = T;
    r->shape.decode_steps = 0;
    LayerMaps m;
    m.layer = 0;
    for (int64_t h = 0; h < n_q; ++h) m.heads.push_back(h);
    m.batch = 1;
    m.q_len = T;
    m.kv_len = T;
    m.probs.assign(static_cast<size_t>(n_q * T * T), std::nanf(""));
    for (int64_t h = 0; h < n_q; ++h)
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = 0; j <= i; ++j)
                m.probs[static_cast<size_t>((h * T + i) * T + j)] = static_cast<float>(w(h, i, j));
    r->prompt_maps.push_back(std::move(m));
    return r;
}

// A uniform causal row: 1 / (i + 1).
double uniform(int64_t, int64_t i, int64_t) {
    return 1.0 / static_cast<double>(i + 1);
}

void showAndLayout(QWidget& w, QSize size = {1000, 700}) {
    w.resize(size);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
}

}  // namespace

class TestRegressions : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        registerMetaTypes();
    }

    // 1. Batch 999 x 1008 tokens: the maps alone were 32 GB and were asked for anyway (bad_alloc).
    void bug1_mapsOfAHugeBatchAreNotRequested() {
        RunParams p;
        p.config = teaching();
        p.config.max_seq = 2048;
        p.shape.batch = 999;
        p.shape.prompt_len = 1008;
        p.shape.decode_steps = 16;
        const Analysis a = planRun(p, fakeDevice(int64_t{64} << 30), Ceilings{50e9, 100e9, "fake"});
        QVERIFY2(a.prompt_maps.empty(), "maps of 999 sequences x 1008 tokens must not be requested");
        QVERIFY(a.decode_maps.empty());
        QVERIFY(a.maps_note.find("No attention maps") != std::string::npos);
        QCOMPARE(a.map_bytes, int64_t{0});
        // An ordinary run still keeps its maps, and their bytes are reported beside the estimate.
        p.shape.batch = 1;
        p.shape.prompt_len = 64;
        const Analysis b = planRun(p, fakeDevice(int64_t{64} << 30), Ceilings{50e9, 100e9, "fake"});
        QVERIFY(!b.prompt_maps.empty());
        QCOMPARE(b.map_bytes, mapBytesPerLayer(p.config, p.shape) * static_cast<int64_t>(b.prompt_maps.layers.size()));
    }

    // 2. The GUI and the CLI disagreed on fit for deepseek-llm-67b; Compare said "Longest context: 0".
    void bug2_guiAndCliAgreeOnFit() {
#ifndef GQA_CLI_PATH
        QSKIP("gqa-lab-cli not built");
#else
        if (!QFileInfo::exists(QStringLiteral(GQA_CLI_PATH))) QSKIP("gqa-lab-cli not built");
        ControlPanel panel;
        QVERIFY(panel.loadPreset(QStringLiteral("deepseek-llm-67b")));
        const RunShape shape = panel.shape();
        QProcess cli;
        cli.start(QStringLiteral(GQA_CLI_PATH),
                  {QStringLiteral("memory"), QStringLiteral("--preset"), QStringLiteral("deepseek-llm-67b"),
                   QStringLiteral("--seq"), QString::number(shape.totalTokens()), QStringLiteral("--batch"),
                   QString::number(shape.batch), QStringLiteral("--json")});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 0);
        const QJsonObject j = QJsonDocument::fromJson(cli.readAllStandardOutput()).object();
        const QJsonObject fit = j.value(QStringLiteral("fit")).toObject();
        RunParams p;
        p.config = panel.config();
        p.shape = shape;
        const auto available = static_cast<int64_t>(fit.value(QStringLiteral("available_bytes")).toDouble());
        const Analysis a = planRun(p, fakeDevice(available), Ceilings{50e9, 100e9, "fake"});
        QCOMPARE(a.memory.total_bytes, static_cast<int64_t>(j.value(QStringLiteral("total_bytes")).toDouble()));
        QCOMPARE(a.memory.weight_bytes, static_cast<int64_t>(j.value(QStringLiteral("weight_bytes")).toDouble()));
        QCOMPARE(a.fit.fits, fit.value(QStringLiteral("fits")).toBool());
        QCOMPARE(a.fit.max_layers_that_fit,
                 static_cast<int64_t>(fit.value(QStringLiteral("max_layers_that_fit")).toDouble()));
        QCOMPARE(a.max_context_tokens,
                 static_cast<int64_t>(fit.value(QStringLiteral("max_context_that_fits")).toDouble()));

        // A context of 0 tokens is not shown as a length.
        Snapshot s = makeSnapshot(a, nullptr);
        s.max_context_tokens = 0;
        CompareView compare;
        compare.setData(s, s);
        auto* table = compare.findChild<QTableWidget*>();
        QVERIFY(table);
        bool seen = false;
        for (int r = 0; r < table->rowCount(); ++r)
            if (table->item(r, 0) && table->item(r, 0)->text() == QStringLiteral("Longest context that fits")) {
                QVERIFY2(table->item(r, 1)->text() != QStringLiteral("0"), qPrintable(table->item(r, 1)->text()));
                QVERIFY(table->item(r, 1)->text().contains(QStringLiteral("none")));
                seen = true;
            }
        QVERIFY(seen);
#endif
    }

    // 3. Typing "12" into Query heads (KV heads 4) passed through 1 and left KV heads at 1; one run per key.
    void bug3_typingAppliesOnlyTheFinalValue() {
        ControlPanel panel;
        QVERIFY(panel.setKvHeads(4));
        QSignalSpy changed(&panel, &ControlPanel::changed);
        QSpinBox* q = panel.queryHeadsSpin();
        q->setFocus();
        q->selectAll();
        QTest::keyClicks(q, QStringLiteral("12"));
        QCOMPARE(changed.count(), 0);
        QCOMPARE(panel.config().n_kv_heads, int64_t{4});
        QTest::keyClick(q, Qt::Key_Return);
        QCOMPARE(panel.config().n_q_heads, int64_t{12});
        QCOMPARE(panel.config().n_kv_heads, int64_t{4});
        QCOMPARE(changed.count(), 1);
        // Typing into Batch moves nothing else.
        const int64_t seq = panel.shape().prompt_len;
        QSpinBox* batch = panel.batchSpin();
        batch->selectAll();
        QTest::keyClicks(batch, QStringLiteral("999"));
        QTest::keyClick(batch, Qt::Key_Return);
        QCOMPARE(panel.shape().batch, int64_t{999});
        QCOMPARE(panel.shape().prompt_len, seq);
    }

    // 4. CSV export wrote the log scale's clamped 1e-05 and axis-rect numbers (Q0 = 31), no query/key columns.
    void bug4_csvHasTheWeightsWithNamedColumns() {
        AttentionView view;
        // Head h, row i: key 0 gets 1e-7 (below the log floor), the rest share the remainder.
        auto r = craftedResult(4, 2, 5, [](int64_t, int64_t i, int64_t j) {
            if (i == 0) return 1.0;
            return j == 0 ? 1e-7 : (1.0 - 1e-7) / static_cast<double>(i);
        });
        view.setResult(r);
        view.setViewState(0, AttentionView::Mode::Grid, 0, /*log*/ true, false, 0);
        const QStringList lines = plotCsv(view.plot()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.front(), QStringLiteral("layer,head,kv_head,query,key,tokens,weight"));
        QCOMPARE(lines.size(), 1 + 4 * 15);  // 4 heads x 15 causal cells of 5 x 5
        QVERIFY(lines[1].startsWith(QStringLiteral("0,0,0,0,0,")));
        bool seen_tiny = false;
        for (const QString& l : lines.mid(1)) {
            const QStringList f = l.split(QLatin1Char(','));
            QCOMPARE(f.size(), 7);
            QCOMPARE(f[2].toInt(), f[1].toInt() / 2);  // kv_head = head / g
            if (f[1] == QStringLiteral("3") && f[3] == QStringLiteral("4") && f[4] == QStringLiteral("0")) {
                QVERIFY(std::abs(f[6].toDouble() - 1e-7) < 1e-12);
                seen_tiny = true;
            }
        }
        QVERIFY(seen_tiny);
    }

    // 5. 32 heads: titles clipped; KV heads 1: uneven panel widths.
    void bug5_gridCellsEvenAndTitlesFit_data() {
        QTest::addColumn<int>("n_q");
        QTest::addColumn<int>("n_kv");
        QTest::newRow("32 heads, MQA") << 32 << 1;
        QTest::newRow("32 heads, 8 groups") << 32 << 8;
        QTest::newRow("8 heads, MQA") << 8 << 1;
    }

    void bug5_gridCellsEvenAndTitlesFit() {
        QFETCH(int, n_q);
        QFETCH(int, n_kv);
        {
            AttentionView view;
            auto r = std::const_pointer_cast<RunResult>(craftedResult(n_q, n_kv, 64, uniform));
            // Roles make the longest titles ("Q31 · KV7 · previous-token").
            r->head_roles.assign(1, std::vector<HeadRole>(static_cast<size_t>(n_q), HeadRole::PreviousToken));
            view.setResult(r);
            showAndLayout(view, {1100, 650});
            QTest::qWait(150);  // the resize refresh
            view.plot()->replot();
            QCOMPARE(view.shownHeadCount(), n_q);
            QList<int> widths;
            for (QCPAxisRect* rect : view.plot()->axisRects()) widths << rect->width();
            const auto [lo, hi] = std::minmax_element(widths.begin(), widths.end());
            QVERIFY2(*hi - *lo <= 2, qPrintable(QStringLiteral("cell widths %1..%2").arg(*lo).arg(*hi)));
            QCPColorScale* scale = nullptr;
            for (int i = 0; i < view.plot()->plotLayout()->elementCount(); ++i)
                if (auto* s = qobject_cast<QCPColorScale*>(view.plot()->plotLayout()->elementAt(i))) scale = s;
            QVERIFY(scale);
            QVERIFY2(scale->axis()->axisRect()->width() >= 8, "the colour bar must have room for its gradient");
            for (int i = 0; i < n_q; ++i) {
                const QString t = view.cellTitle(i);
                QFont f = view.plot()->font();
                for (auto* el : view.plot()->findChildren<QCPTextElement*>())
                    if (el->text() == t) f = el->font();
                QVERIFY2(QFontMetrics(f).horizontalAdvance(t) <= *lo + 6, qPrintable(t));
            }
        }
    }

    // 6. Sequence length silently capped at context - decode; no context control.
    void bug6_contextControlAndWhySeqIsCapped() {
        ControlPanel panel;
        panel.setDecodeSteps(16);
        const int64_t ctx = panel.config().max_seq;
        QSpinBox* seq = panel.seqSpin();
        seq->selectAll();
        QTest::keyClicks(seq, QString::number(ctx * 4));
        QTest::keyClick(seq, Qt::Key_Return);
        QVERIFY(panel.shape().prompt_len <= ctx - 16);
        QVERIFY(!panel.seqLimitLabel()->isHidden());
        QVERIFY(panel.seqLimitLabel()->text().contains(QStringLiteral("context")));
        panel.contextSpin()->setValue(static_cast<int>(ctx * 8));
        QCOMPARE(panel.config().max_seq, ctx * 8);
        panel.setPromptLength(ctx * 4);
        QCOMPARE(panel.shape().prompt_len, ctx * 4);
        QVERIFY(panel.shape().validate(panel.config()));
    }

    // 7. After a preset change the old maps and the old sweep stayed up.
    void bug7_viewsClearUntilTheNewModelArrives() {
        auto* fake = new FakeController;
        MainWindow w(testOptions(), fake);
        const RunParams p = w.currentParams();
        auto a = std::make_shared<Analysis>(planRun(p, fakeDevice(int64_t{8} << 30), Ceilings{50e9, 100e9, "f"}));
        auto r = craftedResult(p.config.n_q_heads, p.config.n_kv_heads, 8, uniform);
        emit fake->analysisAvailable(fake->last, a);
        emit fake->resultAvailable(fake->last, r);
        QVERIFY(w.result() == r);
        w.latencyView()->onSweepStarted(1);
        SweepPoint pt;
        pt.n_kv_heads = 2;
        w.latencyView()->onSweepPoint(pt, 1, 1);
        w.latencyView()->onSweepFinished();
        QCOMPARE(w.latencyView()->sweepPoints().size(), size_t{1});
        QVERIFY(w.controlPanel()->loadPreset(QStringLiteral("llama-3-8b")));
        QVERIFY2(w.attentionView()->infoText().contains(QStringLiteral("Computing")),
                 qPrintable(w.attentionView()->infoText()));
        QVERIFY(w.attentionView()->infoText().contains(QStringLiteral("llama")));
        QCOMPARE(w.attentionView()->shownHeadCount(), 0);
        QVERIFY(w.latencyView()->sweepPoints().empty());
    }

    // 8. The Trade-off tab swept while its plot said 'press "Sweep groupings"'; maps read "n_kv = 0".
    void bug8_tradeoffPlaceholdersTellTheTruth() {
        TradeoffView v;
        v.setCurrentConfig(teaching());
        for (const QString& t : v.mapTitles()) QVERIFY2(!t.contains(QStringLiteral("n_kv = 0")), qPrintable(t));
        QVERIFY(v.mapTitles().front().contains(QStringLiteral("n_kv = 8")));
        v.onStarted(QStringLiteral("key"));
        QCOMPARE(v.placeholderText(), QStringLiteral("sweeping…"));
        QVERIFY(v.mapTitles().front().contains(QStringLiteral("sweeping")));
    }

    // 9a. "layer 17 of 17" for a one-layer run with 16 decode steps.
    void bug9_progressCountsLayerPasses() {
        const QString f = progressFormat(1, 16);
        QVERIFY(!f.startsWith(QStringLiteral("layer %v")));
        QVERIFY(f.contains(QStringLiteral("1 layer")));
        QVERIFY(f.contains(QStringLiteral("16 decode steps")));
    }

    // 9b. "ran 1 of 95 layers (as requested)" when the app chose the depth; 9d. the title said "GQA Lab" twice.
    void bug9_bannerAndTitle() {
        auto* fake = new FakeController;
        MainWindow w(testOptions(), fake);
        QVERIFY(!w.windowTitle().contains(QStringLiteral("GQA Lab")));  // Qt appends the display name itself
        QVERIFY(w.windowTitle().contains(QStringLiteral("teaching")));
        const RunParams p = w.currentParams();
        auto a = std::make_shared<Analysis>(planRun(p, fakeDevice(int64_t{8} << 30), Ceilings{50e9, 100e9, "f"}));
        auto r = std::const_pointer_cast<RunResult>(craftedResult(p.config.n_q_heads, p.config.n_kv_heads, 8, uniform));
        r->notes = {"ran 1 of 4 layers (as requested); memory and latency predictions cover the whole model"};
        emit fake->analysisAvailable(fake->last, a);
        emit fake->resultAvailable(fake->last, r);
        QVERIFY(!w.depthBanner()->text().contains(QStringLiteral("as requested")));
        QVERIFY(w.depthBanner()->text().contains(QStringLiteral("default depth")));
        // 9c. Measured allocation against the analytic numbers part by part, no stale fp32-copy note.
        const QString mem = w.memoryView()->summaryText();
        QVERIFY(mem.contains(QStringLiteral("measured / analytic")));
        QVERIFY(!mem.contains(QStringLiteral("fp32 copy")));
    }

    // 9e. Esc cancelled the run instead of undoing the edit.
    void bug9_escapeUndoesTheEdit() {
        auto* fake = new FakeController;
        MainWindow w(testOptions(), fake);
        fake->busy = true;
        QSpinBox* q = w.controlPanel()->queryHeadsSpin();
        const int before = q->value();
        q->selectAll();
        QTest::keyClicks(q, QStringLiteral("7"));
        QTest::keyClick(q, Qt::Key_Escape);
        QCOMPARE(q->value(), before);
        QCOMPARE(q->text(), QString::number(before));
        QCOMPARE(fake->cancels, 0);
    }

    // 9f. Hover read "weight 0.000000" on the log scale; 9g. hover text stayed after the sequence shrank.
    void bug9_hoverReadsSmallWeightsAndResets() {
        AttentionView view;
        view.setResult(craftedResult(8, 2, 6, [](int64_t, int64_t i, int64_t j) {
            if (i == 0) return 1.0;
            return j == 0 ? 3e-7 : (1.0 - 3e-7) / static_cast<double>(i);
        }));
        view.setViewState(0, AttentionView::Mode::SingleHead, 0, true, false, 0);
        showAndLayout(view);
        view.plot()->replot();
        const QPointF pos = view.cellCenter(0, 5, 0);
        const QString text = view.hoverTextAt(pos);
        QVERIFY2(text.contains(QStringLiteral("3.00e-07")), qPrintable(text));
        QTest::mouseMove(view.plot(), pos.toPoint());
        QTRY_VERIFY(view.hoverLabelText().contains(QStringLiteral("query 5")));
        view.setResult(craftedResult(8, 2, 3, uniform));
        QVERIFY(!view.hoverLabelText().contains(QStringLiteral("query 5")));
    }

    // 10. Long prompts: patterns hidden in the grid; no per-head contrast, no word about downsampling.
    void bug10_perHeadContrastAndDownsampledNote() {
        AttentionView view;
        // Head h puts a little extra weight on key h of every row: flat maps with a faint stripe.
        view.setResult(craftedResult(8, 2, 400, [](int64_t h, int64_t i, int64_t j) {
            const double base = 1.0 / static_cast<double>(i + 2);
            return j == h ? 2.0 * base : base;
        }));
        showAndLayout(view, {900, 600});
        view.setPerHeadContrast(true);
        view.plot()->replot();
        QVERIFY(view.infoText().contains(QStringLiteral("Downsampled")));
        QVERIFY(view.infoText().contains(QStringLiteral("per-head contrast")));
        for (QCPAbstractPlottable* pl : view.plot()->findChildren<QCPAbstractPlottable*>()) {
            auto* map = qobject_cast<QCPColorMap*>(pl);
            if (!map) continue;
            double m = 0.0;
            for (int y = 0; y < map->data()->valueSize(); ++y)
                for (int x = 0; x < map->data()->keySize(); ++x)
                    if (std::isfinite(map->data()->cell(x, y))) m = std::max(m, map->data()->cell(x, y));
            QVERIFY(std::abs(m - 1.0) < 1e-9);
        }
    }
};

QTEST_MAIN(TestRegressions)
#include "tst_regressions.moc"
