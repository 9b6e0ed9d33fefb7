// The real window: controls, debounce, views updated from the engine, stale results, sessions, export,
// the sweep, and errors shown in the window. Teaching preset, short prompts: fast on 2 cores.
#include <QtTest>

#include <QComboBox>
#include <QFile>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>

#include <qcustomplot.h>

#include "attention_view.h"
#include "color_map_convert.h"
#include "compare_view.h"
#include "control_panel.h"
#include "gqa/presets.h"
#include "grouping_diagram.h"
#include "latency_view.h"
#include "main_window.h"
#include "memory_view.h"
#include "plot_export.h"
#include "plot_style.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

constexpr int kTimeoutMs = 120000;

MainWindowOptions testOptions() {
    MainWindowOptions o;
    o.use_settings = false;
    o.restore_session = false;
    o.debounce_ms = 60;
    return o;
}

// Small and quick: 16-token prompt, 3 decode steps.
void makeQuick(MainWindow& w) {
    w.controlPanel()->setDecodeSteps(3);
    w.controlPanel()->setPromptLength(16);
}

bool waitShown(MainWindow& w) {
    return QTest::qWaitFor([&] { return w.result() && w.shownRunId() == w.requestedRunId(); }, kTimeoutMs);
}

// After makeQuick: the result of the quick configuration itself, not of the default run that may finish
// before the debounce of the new settings fires.
bool waitQuick(MainWindow& w) {
    return QTest::qWaitFor(
        [&] {
            return w.result() && w.shownRunId() == w.requestedRunId() && w.result()->shape.prompt_len == 16 &&
                   w.result()->shape.decode_steps == 3;
        },
        kTimeoutMs);
}

// A controller that computes nothing: the test decides what arrives and when.
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
    bool isBusy() const override { return false; }
    bool isSweeping() const override { return false; }

    std::vector<RunParams> params;
    quint64 last = 0;
    int cancels = 0;
};

DeviceInfo fakeDevice(int64_t bytes) {
    DeviceInfo d;
    d.backend = "cpu";
    d.name = "Fake CPU";
    d.total_bytes = bytes;
    d.available_bytes = bytes;
    return d;
}

AnalysisPtr analysisFor(const RunParams& p, int64_t device_bytes = int64_t{8} << 30) {
    Ceilings c{50e9, 100e9, "fake"};
    return std::make_shared<Analysis>(planRun(p, fakeDevice(device_bytes), c));
}

// A real result for `cfg`, straight from the engine (the fake controller hands it over).
RunResultPtr resultFor(const RunParams& p) {
    auto backend = createCpuBackend();
    RunRequest req;
    req.config = p.config;
    req.shape = p.shape;
    req.prompt_maps.layers = {0};
    auto r = runModel(*backend, req);
    if (!r) qFatal("runModel failed: %s", r.error().message.c_str());
    return std::make_shared<const RunResult>(std::move(r).value());
}

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        registerMetaTypes();
    }

    void kvHeadsChangeUpdatesEveryView() {
        MainWindow w(testOptions());
        w.show();
        makeQuick(w);
        QVERIFY(waitQuick(w));
        QCOMPARE(w.attentionView()->shownKvHeads(), int64_t{2});

        QSignalSpy requested(&w, &MainWindow::runRequested);
        QSignalSpy applied(&w, &MainWindow::resultApplied);
        QVERIFY(w.controlPanel()->setKvHeads(4));
        // The diagram and the label follow at once; the engine only after the debounce.
        QCOMPARE(w.groupingDiagram()->kvHeads(), int64_t{4});
        QVERIFY(w.controlPanel()->kindLabel()->text().contains(QStringLiteral("g = 2")));
        QCOMPARE(requested.count(), 0);
        QVERIFY(w.debounceTimer()->isActive());
        QTRY_COMPARE_WITH_TIMEOUT(requested.count(), 1, kTimeoutMs);
        QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeoutMs);

        // Heatmaps: every query head, each framed in the colour of KV head h / g.
        AttentionView* att = w.attentionView();
        QCOMPARE(att->shownKvHeads(), int64_t{4});
        QCOMPARE(att->shownHeadCount(), 8);
        for (int h = 0; h < 8; ++h) {
            QCOMPARE(att->cellFrameColor(h), groupColor(h / 2));
            QVERIFY2(att->cellTitle(h).startsWith(QStringLiteral("Q%1 · KV%2 · ").arg(h).arg(h / 2)),
                     qPrintable(att->cellTitle(h)));
        }
        // Memory: the current curve is the published formula 2 * L * B * s * n_kv * head_dim * bytes.
        MemoryView* mem = w.memoryView();
        QCOMPARE(mem->shownKvHeads(), int64_t{4});
        QCPGraph* g = mem->currentKvGraph();
        QVERIFY(g && g->dataCount() > 10);
        const ModelConfig cfg = w.controlPanel()->config();
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
            const double want_bytes = 2.0 * cfg.n_layers * 1 * it->key * 4 * cfg.head_dim * 2;  // bf16
            QVERIFY(std::fabs(it->value * (1 << 10) - want_bytes) < 1e-6 * want_bytes + 1e-9 ||
                    std::fabs(it->value * (1 << 20) - want_bytes) < 1e-6 * want_bytes + 1e-9 ||
                    std::fabs(it->value - want_bytes) < 1e-6 * want_bytes + 1e-9);
        }
        QVERIFY(mem->summaryText().contains(QStringLiteral("2× more")));  // MHA needs g = 2 times more
        QCOMPARE(w.result()->config.n_kv_heads, int64_t{4});
    }

    void heatmapHoverZoomAndDecodeSteps() {
        MainWindow w(testOptions());
        w.show();
        makeQuick(w);
        QVERIFY(waitQuick(w));
        AttentionView* att = w.attentionView();
        att->plot()->replot(QCustomPlot::rpImmediateRefresh);  // lay out the axis rects
        const LayerMaps* maps = findLayerMaps(w.result()->prompt_maps, 0);
        QVERIFY(maps);
        // Hover: query position, key position and the weight the engine computed.
        const QString text = att->hoverTextAt(att->cellCenter(5, 9, 4));
        QVERIFY2(text.contains(QStringLiteral("query 9 → key 4")), qPrintable(text));
        QVERIFY2(text.startsWith(QStringLiteral("Q5 (KV 1,")), qPrintable(text));
        const double w94 = maps->at(0, headIndex(*maps, 5), 9, 4);
        QVERIFY2(text.endsWith(QStringLiteral(": ") +
                               (w94 < 0.001 ? QString::number(w94, 'e', 2) : QString::number(w94, 'g', 3))),
                 qPrintable(text));
        QVERIFY(att->hoverTextAt(att->cellCenter(5, 2, 7)).contains(QStringLiteral("masked")));
        // One head large: zoom and pan.
        att->setViewState(0, AttentionView::Mode::SingleHead, 3, false, false, 0);
        QCOMPARE(att->shownHeadCount(), 1);
        QVERIFY(att->plot()->interactions().testFlag(QCP::iRangeZoom));
        QVERIFY(att->plot()->interactions().testFlag(QCP::iRangeDrag));
        QVERIFY(att->cellTitle(0).contains(QStringLiteral("Query head 3")));
        // Decode view: rows of the prompt, then one row per step up to the slider.
        att->setViewState(0, AttentionView::Mode::Grid, 0, true, true, 2);
        QCOMPARE(att->shownHeadCount(), 8);
        QCOMPARE(att->decodeStep(), 2);
        att->plot()->replot(QCustomPlot::rpImmediateRefresh);
        const QString row = att->hoverTextAt(att->cellCenter(0, 16 + 2, 3));
        QVERIFY2(row.contains(QStringLiteral("decode step 2")), qPrintable(row));
        QVERIFY2(!row.contains(QStringLiteral("masked")), qPrintable(row));
        const QString self = att->hoverTextAt(att->cellCenter(0, 16 + 2, 18));  // sees itself
        QVERIFY2(!self.contains(QStringLiteral("masked")) && self.contains(QStringLiteral("key 18: ")),
                 qPrintable(self));
    }

    void settingsRememberTheLastSession() {
        QSettings(QStringLiteral("GQA Lab"), QStringLiteral("gqa-lab")).clear();
        MainWindowOptions o = testOptions();
        o.use_settings = true;
        o.restore_session = true;
        {
            MainWindow w(o);
            makeQuick(w);
            QVERIFY(w.controlPanel()->setKvHeads(8));
            w.tabs()->setCurrentIndex(MainWindow::LatencyTab);
            QVERIFY(waitShown(w));
            w.close();
        }
        QSettings s(QStringLiteral("GQA Lab"), QStringLiteral("gqa-lab"));
        QVERIFY(s.contains(QStringLiteral("window/geometry")));
        QVERIFY(s.contains(QStringLiteral("session/last")));
        // Ceilings live in the engine's one dated cache, never in a second copy in the settings.
        QVERIFY(!s.childGroups().contains(QStringLiteral("ceilings")));
        MainWindow again(o);
        QCOMPARE(again.controlPanel()->config().n_kv_heads, int64_t{8});
        QCOMPARE(again.controlPanel()->shape().prompt_len, int64_t{16});
        QCOMPARE(again.tabs()->currentIndex(), int(MainWindow::LatencyTab));
        QSettings(QStringLiteral("GQA Lab"), QStringLiteral("gqa-lab")).clear();
    }

    void debounceCoalescesRapidChanges() {
        MainWindow w(testOptions());
        makeQuick(w);
        QVERIFY(waitQuick(w));
        QSignalSpy requested(&w, &MainWindow::runRequested);
        QSignalSpy applied(&w, &MainWindow::resultApplied);
        for (int64_t kv : {1, 8, 4, 1}) QVERIFY(w.controlPanel()->setKvHeads(kv));
        QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeoutMs);
        QTest::qWait(200);
        QCOMPARE(requested.count(), 1);
        QCOMPARE(w.result()->config.n_kv_heads, int64_t{1});
        QVERIFY(w.controlPanel()->kindLabel()->text().startsWith(QStringLiteral("MQA")));
    }

    void invalidCombinationsCannotBeEntered_data() {
        QTest::addColumn<int>("n_q");
        QTest::newRow("8") << 8;
        QTest::newRow("12") << 12;
        QTest::newRow("7 (prime)") << 7;
        QTest::newRow("9") << 9;
        QTest::newRow("64") << 64;
        QTest::newRow("1") << 1;
    }
    void invalidCombinationsCannotBeEntered() {
        QFETCH(int, n_q);
        ControlPanel panel;
        QVERIFY(panel.loadPreset(QStringLiteral("teaching")));
        QVERIFY(panel.setQueryHeads(n_q));
        QVector<int64_t> divisors;
        for (int k = 1; k <= n_q; ++k)
            if (n_q % k == 0) divisors.push_back(k);
        QCOMPARE(panel.offeredKvHeads(), divisors);
        for (int k = 1; k <= n_q + 1; ++k) QCOMPARE(panel.setKvHeads(k), n_q % k == 0 && k <= n_q);
        // Whatever was chosen, the configuration validates and the label names it.
        for (int64_t k : divisors) {
            QVERIFY(panel.setKvHeads(k));
            const ModelConfig c = panel.config();
            QVERIFY2(c.validate().isOk(), c.validate().message().c_str());
            QCOMPARE(c.n_q_heads % c.n_kv_heads, int64_t{0});
            const QString kind = panel.kindLabel()->text();
            QVERIFY(kind.startsWith(k == n_q ? QStringLiteral("MHA")
                                    : k == 1 ? QStringLiteral("MQA")
                                             : QStringLiteral("GQA")));
        }
        // Changing the query heads keeps the KV count valid.
        QVERIFY(panel.setQueryHeads(n_q == 7 ? 6 : 7));
        QVERIFY(panel.config().validate().isOk());
        // head_dim offers only even values (RoPE); the sequence cannot exceed max_seq with decode steps.
        for (int i = 0; i < panel.headDimCombo()->count(); ++i)
            QCOMPARE(panel.headDimCombo()->itemData(i).toLongLong() % 2, 0LL);
        panel.setDecodeSteps(100);
        const int64_t max_seq = panel.config().max_seq;
        QCOMPARE(int64_t(panel.seqSpin()->maximum()), max_seq - 100);
        panel.seqSpin()->setValue(int(max_seq));
        QVERIFY(panel.shape().validate(panel.config()).isOk());
        QVERIFY(panel.shape().totalTokens() <= max_seq);
    }

    void cudaListedButDisabledWhenUnavailable() {
        ControlPanel panel;
        panel.setBackends({{QStringLiteral("cpu"), true, QStringLiteral("Test CPU"), QString()},
                           {QStringLiteral("cuda"), false, QString(), QStringLiteral("no CUDA driver")}});
        QComboBox* box = panel.backendCombo();
        QCOMPARE(box->count(), 2);
        auto* model = qobject_cast<QStandardItemModel*>(box->model());
        QVERIFY(model);
        QVERIFY(model->item(0)->isEnabled());
        QVERIFY(!model->item(1)->isEnabled());
        QCOMPARE(model->item(1)->toolTip(), QStringLiteral("no CUDA driver"));
        QVERIFY(model->item(0)->text().contains(QStringLiteral("Test CPU")));
        QCOMPARE(panel.backend(), QStringLiteral("cpu"));
    }

    void staleResultNeverOverwritesNewer() {
        auto* fake = new FakeController;
        MainWindow w(testOptions(), fake);
        const quint64 first = w.requestedRunId();
        RunParams old_params = fake->params.back();
        old_params.config.n_kv_heads = 8;
        old_params.shape = {1, 8, 1};
        QVERIFY(w.controlPanel()->setKvHeads(1));
        w.requestRunNow();
        const quint64 second = w.requestedRunId();
        QVERIFY(second > first);
        RunParams new_params = fake->params.back();
        new_params.shape = {1, 8, 1};
        QCOMPARE(new_params.config.n_kv_heads, int64_t{1});

        // The newer answer arrives first, then the older one: the older must be ignored.
        emit fake->analysisAvailable(second, analysisFor(new_params));
        emit fake->resultAvailable(second, resultFor(new_params));
        QCOMPARE(w.shownRunId(), second);
        QCOMPARE(w.attentionView()->shownKvHeads(), int64_t{1});
        emit fake->analysisAvailable(first, analysisFor(old_params));
        emit fake->resultAvailable(first, resultFor(old_params));
        QCOMPARE(w.shownRunId(), second);
        QCOMPARE(w.attentionView()->shownKvHeads(), int64_t{1});
        QCOMPARE(w.memoryView()->shownKvHeads(), int64_t{1});
        QCOMPARE(w.result()->config.n_kv_heads, int64_t{1});
    }

    void errorsAppearInTheWindow() {
        auto* fake = new FakeController;
        MainWindow w(testOptions(), fake);
        QSignalSpy shown(&w, &MainWindow::runFailureShown);
        emit fake->runFailed(w.requestedRunId(), QStringLiteral("predicted not to fit on Fake CPU: needs 1 TiB"),
                             false);
        QCOMPARE(shown.count(), 1);
        QVERIFY(w.statusText().contains(QStringLiteral("needs 1 TiB")));
        // A cancelled run is not an error.
        emit fake->runFailed(w.requestedRunId(), QStringLiteral("Cancelled"), true);
        QVERIFY(w.statusText().contains(QStringLiteral("cancelled")));
    }

    // The sliding-window control: the run gets the window, the KV cache follows 2·L·B·min(T, w)·n_kv·D·bytes,
    // the Memory view says how the window and GQA multiply, and the maps show the band (zeros before it).
    void slidingWindowControl() {
        MainWindow w(testOptions());
        w.show();
        makeQuick(w);
        QVERIFY(waitQuick(w));
        QSignalSpy applied(&w, &MainWindow::resultApplied);
        QSpinBox* win = w.controlPanel()->windowSpin();
        QCOMPARE(win->value(), 0);  // the teaching preset has none
        win->setValue(8);
        QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeoutMs);
        const ModelConfig cfg = w.controlPanel()->config();
        QCOMPARE(cfg.windowOf(0), int64_t{8});
        QCOMPARE(w.result()->config.sliding_window, int64_t{8});
        const RunShape s = w.controlPanel()->shape();
        const int64_t held = std::min<int64_t>(8, s.totalTokens());
        QCOMPARE(w.result()->memory.kv_cache_bytes,
                 2 * cfg.n_layers * s.batch * held * cfg.n_kv_heads * cfg.head_dim * 2);  // bf16
        QVERIFY2(w.memoryView()->summaryText().contains(QStringLiteral("Sliding window")),
                 qPrintable(w.memoryView()->summaryText()));
        QVERIFY(!w.controlPanel()->windowLabel()->isHidden());
        QVERIFY(!w.result()->prompt_maps.empty());
        for (const auto& lm : w.result()->prompt_maps) {
            const int64_t T = lm.q_len;
            for (int64_t i = 0; i < T; ++i)
                for (int64_t j = 0; j + 8 <= i; ++j) QCOMPARE(lm.at(0, 0, i, j), 0.0f);
        }
    }

    void bigPresetShowsTheWholeModelAnalytically() {
        auto* fake = new FakeController;
        MainWindowOptions o = testOptions();
        o.preset = QStringLiteral("deepseek-llm-67b");
        MainWindow w(o, fake);
        const RunParams p = fake->params.back();
        QCOMPARE(p.config.n_layers, int64_t{95});
        QCOMPARE(p.config.n_kv_heads, int64_t{8});
        QCOMPARE(p.run_layers, int64_t{1});  // big models run one layer unless asked otherwise
        // The worker's analysis arrives, the run is refused: the analytic picture stays up and says so.
        const AnalysisPtr a = analysisFor(p, int64_t{16} << 30);
        emit fake->analysisAvailable(w.requestedRunId(), a);
        emit fake->runFailed(w.requestedRunId(), QStringLiteral("out of memory"), false);
        QCOMPARE(w.memoryView()->shownKvHeads(), int64_t{8});
        // KV cache of the whole model: 2 * 95 * 1 * 80 * 8 * 128 * 2 bytes.
        QCOMPARE(a->memory.kv_cache_bytes, int64_t{2} * 95 * 1 * 80 * 8 * 128 * 2);
        QVERIFY(w.memoryView()->summaryText().contains(QStringLiteral("95 layers")));
        QVERIFY(w.latencyView()->summaryText().contains(QStringLiteral("95 layers")));
        QVERIFY(!a->fit.fits);
        QVERIFY(!w.depthBanner()->isHidden());
        QVERIFY(w.depthBanner()->text().contains(QStringLiteral("does not fit")));
    }

    void sessionRoundTripAndCorruptFileRefused() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("session.json"));
        {
            MainWindow w(testOptions());
            makeQuick(w);
            QVERIFY(w.controlPanel()->setKvHeads(4));
            w.controlPanel()->layersSpin()->setValue(3);
            w.controlPanel()->storageCombo()->setCurrentIndex(
                w.controlPanel()->storageCombo()->findText(QStringLiteral("fp16")));
            w.requestRunNow();
            QVERIFY(waitShown(w));
            w.pin();
            w.tabs()->setCurrentIndex(MainWindow::MemoryTab);
            QString error;
            QVERIFY2(w.saveSession(path, &error), qPrintable(error));
        }
        MainWindow w(testOptions());
        QVERIFY(!w.pinned());
        QString error;
        QVERIFY2(w.loadSession(path, &error), qPrintable(error));
        const ModelConfig c = w.controlPanel()->config();
        QCOMPARE(c.n_kv_heads, int64_t{4});
        QCOMPARE(c.n_layers, int64_t{3});
        // The one storage control stores weights, embedding and KV cache in fp16.
        QCOMPARE(c.weight_dtype, DType::F16);
        QCOMPARE(c.embed_dtype, DType::F16);
        QCOMPARE(c.kv_dtype, DType::F16);
        QCOMPARE(w.controlPanel()->shape().prompt_len, int64_t{16});
        QCOMPARE(w.controlPanel()->shape().decode_steps, int64_t{3});
        QCOMPARE(w.tabs()->currentIndex(), int(MainWindow::MemoryTab));
        QVERIFY(w.pinned().has_value());
        QCOMPARE(w.pinned()->config.n_kv_heads, int64_t{4});
        QCOMPARE(w.pinned()->layers_run, int64_t{3});
        QVERIFY(w.pinned()->decode_ms > 0.0);

        // A corrupt file is refused with a message and the current session is kept.
        const QString bad = dir.filePath(QStringLiteral("bad.json"));
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        QByteArray text = sessionToJson(w.currentSession());
        text.replace("\"n_kv_heads\": 4", "\"n_kv_heads\": 3");
        f.write(text);
        f.close();
        QVERIFY(!w.loadSession(bad, &error));
        QVERIFY2(error.contains(QStringLiteral("multiple")), qPrintable(error));
        QVERIFY(w.statusText().contains(QStringLiteral("Refused")));
        QCOMPARE(w.controlPanel()->config().n_kv_heads, int64_t{4});
        QVERIFY(w.pinned().has_value());
        QVERIFY(!w.loadSession(dir.filePath(QStringLiteral("missing.json")), &error));
        QCOMPARE(w.controlPanel()->config().n_layers, int64_t{3});
    }

    void exportWritesValidFiles() {
        MainWindow w(testOptions());
        w.show();
        makeQuick(w);
        QVERIFY(waitQuick(w));
        w.pin();
        QTemporaryDir dir;
        int index = 0;
        for (int tab = 0; tab < w.tabs()->count(); ++tab) {
            w.tabs()->setCurrentIndex(tab);
            for (QCustomPlot* plot : w.plotsOfTab(tab)) {
                const QString base = dir.filePath(QStringLiteral("plot%1").arg(index++));
                QString error;
                QVERIFY2(exportPlot(plot, base + ".png", ExportFormat::Png, &error), qPrintable(error));
                QVERIFY2(exportPlot(plot, base + ".pdf", ExportFormat::Pdf, &error), qPrintable(error));
                QVERIFY2(exportPlot(plot, base + ".csv", ExportFormat::Csv, &error), qPrintable(error));
                QFile png(base + ".png"), pdf(base + ".pdf"), csv(base + ".csv");
                QVERIFY(png.open(QIODevice::ReadOnly) && pdf.open(QIODevice::ReadOnly) &&
                        csv.open(QIODevice::ReadOnly));
                QCOMPARE(png.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
                QCOMPARE(pdf.read(5), QByteArray("%PDF-"));
                const QList<QByteArray> lines = csv.readAll().split('\n');
                // The attention maps export their data (named columns, unclamped weights); other plots their series.
                const bool maps = plot == w.attentionView()->plot();
                QCOMPARE(lines.first(), maps ? QByteArray("layer,head,kv_head,query,key,tokens,weight")
                                             : QByteArray("axis_rect,series,x,y,z"));
                bool has_data = false;
                for (int i = 0; i < plot->plottableCount(); ++i)
                    has_data |=
                        !plot->plottable(i)->interface1D() || plot->plottable(i)->interface1D()->dataCount() > 0;
                if (!has_data) continue;  // the sweep plot before any sweep: header only
                QVERIFY2(lines.size() > 2, qPrintable(plot->objectName()));
                const QList<QByteArray> cells = lines.at(1).split(',');
                QVERIFY(cells.size() >= 5);
                bool ok = false;
                cells.at(maps ? cells.size() - 1 : cells.size() - 3).toDouble(&ok);  // weight, or x
                QVERIFY(ok);
            }
        }
        QVERIFY(index >= 6);
        // The grouping diagram exports too: PNG, PDF, and its head -> KV head mapping as CSV.
        for (const char* ext : {"png", "pdf", "csv"}) {
            QString error;
            QVERIFY2(w.groupingDiagram()->exportTo(dir.filePath(QStringLiteral("grouping.%1").arg(QLatin1String(ext))),
                                                   &error),
                     qPrintable(error));
        }
        QFile gpng(dir.filePath(QStringLiteral("grouping.png"))), gpdf(dir.filePath(QStringLiteral("grouping.pdf"))),
            gcsv(dir.filePath(QStringLiteral("grouping.csv")));
        QVERIFY(gpng.open(QIODevice::ReadOnly) && gpdf.open(QIODevice::ReadOnly) && gcsv.open(QIODevice::ReadOnly));
        QCOMPARE(gpng.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
        QCOMPARE(gpdf.read(5), QByteArray("%PDF-"));
        QCOMPARE(gcsv.readAll(),
                 QByteArray("q_head,kv_head,group_size\n0,0,4\n1,0,4\n2,0,4\n3,0,4\n4,1,4\n5,1,4\n6,1,4\n7,1,4\n"));
        // The attention CSV holds every visible weight of every head: 8 heads x 16*17/2 causal cells.
        QFile att(dir.filePath(QStringLiteral("plot0.csv")));
        QVERIFY(att.open(QIODevice::ReadOnly));
        QCOMPARE(att.readAll().count('\n'), 1 + 8 * 16 * 17 / 2);
    }

    void sweepShowsProgressAndCanBeCancelled() {
        MainWindow w(testOptions());
        w.show();
        makeQuick(w);
        QVERIFY(waitQuick(w));
        LatencyView* lat = w.latencyView();
        lat->sweepButton()->click();
        QCOMPARE(w.tabs()->currentIndex(), int(MainWindow::LatencyTab));
        QVERIFY(lat->cancelSweepButton()->isEnabled());
        QCOMPARE(lat->sweepProgress()->maximum(), 4);
        QTRY_COMPARE_WITH_TIMEOUT(lat->sweepProgress()->value(), 4, kTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(lat->sweepButton()->isEnabled(), kTimeoutMs);
        QCOMPARE(lat->sweepPoints().size(), size_t{4});
        QVERIFY(!lat->cancelSweepButton()->isEnabled());
        // Points are in ascending KV-head order with the analytic KV bytes.
        for (size_t i = 1; i < 4; ++i)
            QCOMPARE(lat->sweepPoints()[i].kv_cache_bytes, 2 * lat->sweepPoints()[i - 1].kv_cache_bytes);

        // Cancel: a deeper model so the sweep is still running when the button is pressed.
        w.controlPanel()->layersSpin()->setValue(12);
        w.controlPanel()->setPromptLength(256);
        w.requestRunNow();
        QVERIFY(waitShown(w));
        lat->sweepButton()->click();
        QTRY_VERIFY_WITH_TIMEOUT(lat->sweepProgress()->value() >= 1, kTimeoutMs);
        lat->cancelSweepButton()->click();
        QTRY_VERIFY_WITH_TIMEOUT(lat->sweepButton()->isEnabled(), kTimeoutMs);
        QVERIFY(lat->sweepPoints().size() < 4);
        QVERIFY(!w.controller()->isSweeping());
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
