// Soak: the real window (threaded engine worker) through 1,000 random live edits from a fixed seed — presets,
// the shared tiny-llama-gqa checkpoint, query / KV heads (valid and invalid), depth, shape, storage type, tabs,
// map views, sweeps and trade-off sweeps started and cancelled, runs cancelled, sessions saved and reopened
// (and a corrupt one refused), plots exported — with random waits of 0-20 ms between them.
// Checked: nothing crashes; the latest request is always answered (a result, a failure or a cancellation)
// within 30 s of the edits pausing; the views then describe the controls (the result's configuration and shape,
// the map header, the memory view's numbers against gqa::estimateMemory); resident memory (VmRSS, read in one
// reference state after glibc returned its free pages) after all edits is within 20 % of what it was after the
// first 100. Shapes are kept small so a run takes milliseconds.
// GQA_SOAK_SEED and GQA_SOAK_EDITS override the seed and the edit count (to reproduce or lengthen a run).
#include <QtTest>

#include <QComboBox>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QToolButton>

#include <qcustomplot.h>

#include <deque>
#include <functional>
#include <random>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "attention_view.h"
#include "control_panel.h"
#include "gqa/memory_model.h"
#include "gqa/presets.h"
#include "grouping_diagram.h"
#include "latency_view.h"
#include "main_window.h"
#include "memory_view.h"
#include "plot_export.h"
#include "prompt_panel.h"
#include "tradeoff_view.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

constexpr int kSettleMs = 30000;  // the bound within which the latest request must be answered
constexpr int kMaxQueryHeads = 16;
constexpr int64_t kMaxDModel = 256;  // n_q x head_dim: keeps the synthetic embedding of a 152k vocabulary small
constexpr int kMaxLayers = 3;
constexpr int kMaxSeq = 48;
constexpr int kMaxBatch = 2;
constexpr int kMaxDecode = 6;

int envInt(const char* name, int fallback) {
    bool ok = false;
    const int v = qEnvironmentVariableIntValue(name, &ok);
    return ok ? v : fallback;
}

// Resident set size of this process, from /proc/self/status (kB).
qint64 residentKb() {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly)) return -1;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (line.startsWith("VmRSS:")) return line.mid(6).trimmed().split(' ').front().toLongLong();
    return -1;
}

// The same, after glibc returned the free pages of its heaps: what is live (a leak), not what the allocator keeps
// at hand after a large model was built (its arenas grow to the largest recent working set).
qint64 liveResidentKb() {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    return residentKb();
}

// Bytes the heap holds in live allocations (all arenas), for the log beside the RSS.
qint64 heapInUseKb() {
#ifdef __GLIBC__
    const struct mallinfo2 mi = mallinfo2();
    return static_cast<qint64>((mi.uordblks + mi.hblkhd) >> 10);
#else
    return -1;
#endif
}

MainWindowOptions soakOptions() {
    MainWindowOptions o;
    o.use_settings = false;
    o.restore_session = false;
    o.debounce_ms = 15;  // about the random waits: some edits coalesce, others start (and supersede) runs
    return o;
}

#ifdef GQA_TESTDATA_DIR
const QStringList kModelFiles = {QStringLiteral("hf"), QStringLiteral("tiny-llama-gqa-bf16.gguf"),
                                 QStringLiteral("tiny-llama-gqa-q8_0.gguf")};
QString modelPath(int i) {
    return QStringLiteral(GQA_TESTDATA_DIR "/models/tiny-llama-gqa/") + kModelFiles.at(i);
}
#endif

const QStringList kPromptWords = {QStringLiteral("the"),   QStringLiteral("cat"),  QStringLiteral("sat"),
                                  QStringLiteral("on"),    QStringLiteral("a"),    QStringLiteral("mat"),
                                  QStringLiteral("Lily"),  QStringLiteral("café"), QStringLiteral("中文"),
                                  QStringLiteral("12345"), QStringLiteral("!?"),   QStringLiteral("  ")};

}  // namespace

class TestSoak : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        registerMetaTypes();
#ifdef __GLIBC__
        // A fixed mmap threshold: glibc would otherwise raise it to the largest block freed so far (up to 32 MiB),
        // and serve later embeddings and maps from arenas it keeps resident, so RSS would follow the largest model
        // seen instead of what is live. Blocks above 256 KiB are mapped and returned to the system when freed.
        mallopt(M_MMAP_THRESHOLD, 256 << 10);
#endif
    }

    void thousandRandomEdits();
    // Found by the soak: with a checkpoint open, opening the session of a synthetic model left the controls
    // in checkpoint mode with the session's values in them, while the runs (and every view) used the checkpoint.
    void syntheticSessionOverCheckpoint();

private:
    using Edit = std::function<void()>;
    struct Kind {
        const char* name;
        int weight;
        Edit run;
    };

    void keepSmall();
    void settle(const char* where);
    void toReferenceState();
    void checkViewsDescribeControls();
    void note(const QString& what);
    QString recentEdits() const;
    int uniform(int lo, int hi) {
        return std::uniform_int_distribution<int>(lo, hi)(m_rng);
    }

    MainWindow* m_w = nullptr;
    std::mt19937 m_rng;
    std::deque<QString> m_log;  // the last edits, printed with a failure
    quint64 m_answered = 0;     // the newest request answered by a result or a shown failure
    int m_step = 0;
};

void TestSoak::note(const QString& what) {
    m_log.push_back(QStringLiteral("#%1 %2").arg(m_step).arg(what));
    if (m_log.size() > 25) m_log.pop_front();
}

QString TestSoak::recentEdits() const {
    QStringList lines;
    for (const QString& s : m_log) lines << s;
    return lines.join(QLatin1Char('\n'));
}

// The engine only ever sees small shapes: the edits before a pause are clamped here, with the same controls.
void TestSoak::keepSmall() {
    ControlPanel* p = m_w->controlPanel();
    if (p->batchSpin()->value() > kMaxBatch) p->batchSpin()->setValue(kMaxBatch);
    if (p->decodeSpin()->value() > kMaxDecode) p->setDecodeSteps(kMaxDecode);
    if (p->isRealModel()) return;  // the tiny checkpoint: heads, depth and prompt are small already
    if (p->queryHeadsSpin()->value() > kMaxQueryHeads) p->setQueryHeads(kMaxQueryHeads);
    const int64_t n_q = p->queryHeadsSpin()->value();
    QComboBox* hd = p->headDimCombo();
    if (n_q * hd->currentData().toLongLong() > kMaxDModel) {
        int best = -1;
        for (int i = 0; i < hd->count(); ++i)
            if (n_q * hd->itemData(i).toLongLong() <= kMaxDModel &&
                (best < 0 || hd->itemData(i).toLongLong() > hd->itemData(best).toLongLong()))
                best = i;
        if (best < 0)  // the smallest offered
            for (int i = 0; i < hd->count(); ++i)
                if (best < 0 || hd->itemData(i).toLongLong() < hd->itemData(best).toLongLong()) best = i;
        hd->setCurrentIndex(best);
    }
    if (p->layersSpin()->value() > kMaxLayers) p->layersSpin()->setValue(kMaxLayers);
    if (p->seqSpin()->value() > kMaxSeq) p->setPromptLength(kMaxSeq);
}

// Waits (bounded) until nothing is pending: no debounce, no model load, the latest request answered.
void TestSoak::settle(const char* where) {
    keepSmall();
    const bool ok = QTest::qWaitFor(
        [&] {
            return !m_w->debounceTimer()->isActive() && !m_w->isLoadingModel() && m_answered == m_w->requestedRunId();
        },
        kSettleMs);
    QVERIFY2(ok, qPrintable(QStringLiteral("%1: request %2 not answered within %3 ms (answered %4, shown %5, "
                                           "loading %6); last edits:\n%7")
                                .arg(QLatin1String(where))
                                .arg(m_w->requestedRunId())
                                .arg(kSettleMs)
                                .arg(m_answered)
                                .arg(m_w->shownRunId())
                                .arg(m_w->isLoadingModel())
                                .arg(recentEdits())));
}

// The same small state each time resident memory is read: the teaching preset, one short run shown, its KV-head
// sweep and trade-off sweep finished (the views keep the last ones), every tab shown once (a plot allocates its
// paint buffers when first shown: several MB that would otherwise read as growth), the last checkpoint opened and
// converted the same one (hf/ at one KV head, closed again by the preset: the worker keeps its last live
// conversion, tokenizer included), no pin.
void TestSoak::toReferenceState() {
    note(QStringLiteral("reference state"));
    ControlPanel* p = m_w->controlPanel();
    m_w->latencyView()->cancelSweepButton()->click();
    m_w->tradeoffView()->cancelButton()->click();
    m_w->tabs()->setCurrentIndex(MainWindow::AttentionTab);
    QVERIFY(QTest::qWaitFor([&] { return !m_w->isLoadingModel(); }, kSettleMs));
#ifdef GQA_TESTDATA_DIR
    if (QFileInfo::exists(modelPath(0) + QStringLiteral("/config.json"))) {
        m_w->openModel(modelPath(0));
        settle("reference model");
        if (QTest::currentTestFailed()) return;
        QVERIFY(m_w->model());
        QVERIFY(p->setKvHeads(1));
        settle("reference conversion");
        if (QTest::currentTestFailed()) return;
    }
#endif
    QVERIFY(p->loadPreset(QString::fromLatin1(kDefaultPreset)));
    p->setPromptLength(32);
    p->setDecodeSteps(4);
    m_w->clearPin();
    m_w->requestRunNow();
    settle("reference state");
    if (QTest::currentTestFailed()) return;
    QVERIFY2(QTest::qWaitFor([&] { return !m_w->controller()->isSweeping() && !m_w->tradeoffView()->isSweeping(); },
                             kSettleMs),
             "a cancelled sweep did not stop");
    m_w->startSweep();
    QVERIFY2(QTest::qWaitFor(
                 [&] { return !m_w->controller()->isSweeping() && m_w->latencyView()->sweepButton()->isEnabled(); },
                 kSettleMs),
             "the reference sweep did not finish");
    QCOMPARE(m_w->latencyView()->sweepPoints().size(), size_t(p->offeredKvHeads().size()));
    m_w->startTradeoff();
    QVERIFY2(QTest::qWaitFor([&] { return !m_w->tradeoffView()->isSweeping(); }, kSettleMs),
             "the reference trade-off sweep did not finish");
    QVERIFY(m_w->tradeoffView()->outcome());
    // Twice: plots replot (and size their buffers) on a queued refresh after the layout settled.
    for (int pass = 0; pass < 2; ++pass)
        for (int t = m_w->tabs()->count() - 1; t >= 0; --t) {
            m_w->tabs()->setCurrentIndex(t);
            QTest::qWait(50);
        }
    QCOMPARE(m_w->tabs()->currentIndex(), int(MainWindow::AttentionTab));
    QCOMPARE(m_w->shownRunId(), m_w->requestedRunId());
    QVERIFY(!m_w->model());
}

// The shown result and the views against the controls, and the memory numbers against the one memory model.
void TestSoak::checkViewsDescribeControls() {
    ControlPanel* p = m_w->controlPanel();
    QCOMPARE(m_w->shownRunId(), m_w->requestedRunId());
    const RunResultPtr& r = m_w->result();
    QVERIFY(r);
    QVERIFY(m_w->analysis());
    const ModelConfig c = p->config();
    const RunShape s = p->shape();
    QVERIFY2(c.validate().isOk(), c.validate().message().c_str());
    const QString ctx =
        QStringLiteral(" (n_q %1, n_kv %2, layers %3, head_dim %4, B %5, T %6, steps %7); last edits:\n%8")
            .arg(c.n_q_heads)
            .arg(c.n_kv_heads)
            .arg(c.n_layers)
            .arg(c.head_dim)
            .arg(s.batch)
            .arg(s.prompt_len)
            .arg(s.decode_steps)
            .arg(recentEdits());
    QVERIFY2(r->config.n_q_heads == c.n_q_heads && r->config.n_kv_heads == c.n_kv_heads &&
                 r->config.n_layers == c.n_layers && r->config.head_dim == c.head_dim &&
                 r->config.d_model == c.d_model && r->config.weight_dtype == c.weight_dtype &&
                 r->config.kv_dtype == c.kv_dtype,
             qPrintable(QStringLiteral("result config differs from the controls") + ctx));
    QVERIFY2(
        r->shape.batch == s.batch && r->shape.prompt_len == s.prompt_len && r->shape.decode_steps == s.decode_steps,
        qPrintable(QStringLiteral("result shape (%1, %2, %3) differs from the controls")
                       .arg(r->shape.batch)
                       .arg(r->shape.prompt_len)
                       .arg(r->shape.decode_steps) +
                   ctx));
    const int64_t want_layers = p->runLayers() > 0 ? std::min<int64_t>(p->runLayers(), c.n_layers) : c.n_layers;
    QVERIFY2(r->layers_run == want_layers, qPrintable(QStringLiteral("ran %1 layers").arg(r->layers_run) + ctx));

    // Grouping diagram, kind label and map header.
    QCOMPARE(m_w->groupingDiagram()->kvHeads(), c.n_kv_heads);
    const QString kind = p->kindLabel()->text();
    QVERIFY2(kind.startsWith(c.n_kv_heads == c.n_q_heads ? QStringLiteral("MHA")
                             : c.n_kv_heads == 1         ? QStringLiteral("MQA")
                                                         : QStringLiteral("GQA")),
             qPrintable(kind + ctx));
    QCOMPARE(m_w->attentionView()->result(), r);
    const QString info = m_w->attentionView()->infoText();
    if (!r->prompt_maps.empty()) {
        QCOMPARE(m_w->attentionView()->shownKvHeads(), c.n_kv_heads);
        const QString header = QStringLiteral("%1 query heads in %2 KV group").arg(c.n_q_heads).arg(c.n_kv_heads);
        QVERIFY2(info.contains(header), qPrintable(info + QStringLiteral(" lacks ") + header + ctx));
        QVERIFY2(info.contains(QStringLiteral("of %1 run").arg(r->layers_run)), qPrintable(info + ctx));
    }

    // Memory: the analysis is estimateMemory of the controls at batch x (prompt + decode), and the view says so.
    const MemoryEstimate want = estimateMemory(c, s.batch, s.totalTokens());
    const MemoryEstimate& got = m_w->analysis()->memory;
    QVERIFY2(got.param_count == want.param_count && got.weight_bytes == want.weight_bytes &&
                 got.kv_cache_bytes == want.kv_cache_bytes && got.activation_bytes == want.activation_bytes &&
                 got.total_bytes == want.total_bytes,
             qPrintable(QStringLiteral("memory %1 / %2 against estimateMemory %3 / %4")
                            .arg(got.kv_cache_bytes)
                            .arg(got.total_bytes)
                            .arg(want.kv_cache_bytes)
                            .arg(want.total_bytes) +
                        ctx));
    QCOMPARE(m_w->memoryView()->shownKvHeads(), c.n_kv_heads);
    const QString mem = m_w->memoryView()->summaryText();
    for (const QString& needle :
         {QStringLiteral("batch %1 × %2 tokens").arg(s.batch).arg(s.totalTokens()), bytesText(want.kv_cache_bytes),
          bytesText(want.total_bytes), QStringLiteral("(%1 layers").arg(c.n_layers)})
        QVERIFY2(mem.contains(needle), qPrintable(QStringLiteral("memory view lacks '%1': %2").arg(needle, mem) + ctx));
}

void TestSoak::thousandRandomEdits() {
    const int edits = envInt("GQA_SOAK_EDITS", 1000);
    const int baseline_at = std::min(100, edits);
    m_rng.seed(static_cast<std::mt19937::result_type>(envInt("GQA_SOAK_SEED", 20261201)));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QElapsedTimer clock;
    clock.start();

    MainWindow w(soakOptions());
    m_w = &w;
    w.resize(1200, 800);
    w.show();
    connect(&w, &MainWindow::resultApplied, this, [this](quint64 id) { m_answered = std::max(m_answered, id); });
    connect(&w, &MainWindow::runFailureShown, this,
            [this](quint64 id, const QString&) { m_answered = std::max(m_answered, id); });
    ControlPanel* p = w.controlPanel();
    const std::vector<std::string> presets = presetNames();
    bool have_model = false;
#ifdef GQA_TESTDATA_DIR
    have_model = QFileInfo::exists(modelPath(0) + QStringLiteral("/config.json"));
#endif
    if (!have_model) qInfo("soak: no shared test data (GQA_TESTDATA_DIR): the checkpoint edits are left out");
    int sessions = 0, exports = 0;

    const std::vector<Kind> kinds = {
        {"preset", 5,
         [&] {
             const int i = uniform(0, static_cast<int>(presets.size()) - 1);
             const QString name = QString::fromStdString(presets[static_cast<size_t>(i)]);
             note(QStringLiteral("preset %1").arg(name));
             QVERIFY(p->loadPreset(name));
             QCOMPARE(p->presetName(), name);
             QVERIFY(!p->isRealModel());
         }},
        {"query heads", 9,
         [&] {
             if (!p->queryHeadsSpin()->isEnabled()) return;
             const int n = uniform(-2, 20) == 20 ? 300 : uniform(-1, kMaxQueryHeads);
             const int before = p->queryHeadsSpin()->value();
             note(QStringLiteral("query heads %1").arg(n));
             const bool ok = p->setQueryHeads(n);
             QCOMPARE(ok, n >= 1 && n <= 256);
             if (!ok) QCOMPARE(p->queryHeadsSpin()->value(), before);
             // Only divisors are offered, whatever was typed.
             for (int64_t k : p->offeredKvHeads()) QCOMPARE(p->config().n_q_heads % k, int64_t{0});
         }},
        {"kv heads", 14,
         [&] {
             const int64_t n_q = p->config().n_q_heads;
             const int64_t k = uniform(0, static_cast<int>(n_q) + 2);
             const QVector<int64_t> offered = p->offeredKvHeads();
             const int64_t before = p->config().n_kv_heads;
             note(QStringLiteral("kv heads %1 of %2").arg(k).arg(n_q));
             const bool ok = p->setKvHeads(k);
             QCOMPARE(ok, offered.contains(k));
             QCOMPARE(p->config().n_kv_heads, ok ? k : before);
             if (!p->isRealModel()) QCOMPARE(ok, k >= 1 && k <= n_q && n_q % k == 0);
             QVERIFY(p->config().validate().isOk());
         }},
        {"layers", 6,
         [&] {
             if (!p->layersSpin()->isEnabled()) return;
             const int n = uniform(0, kMaxLayers + 1);
             note(QStringLiteral("layers %1").arg(n));
             p->layersSpin()->setValue(n);
             QVERIFY(p->config().n_layers >= 1);
         }},
        {"layers to run", 4,
         [&] {
             const int n = uniform(0, p->runLayersSpin()->maximum());
             note(QStringLiteral("layers to run %1").arg(n));
             p->runLayersSpin()->setValue(n);
         }},
        {"sequence", 8,
         [&] {
             if (!p->seqSpin()->isEnabled()) return;
             const int n = uniform(0, kMaxSeq);
             note(QStringLiteral("sequence %1").arg(n));
             p->setPromptLength(n);
             QVERIFY(p->shape().validate(p->config()).isOk());
         }},
        {"batch", 6,
         [&] {
             const int n = uniform(0, kMaxBatch + 1);
             note(QStringLiteral("batch %1").arg(n));
             p->batchSpin()->setValue(n);
         }},
        {"sliding window", 3,
         [&] {
             // 0 (none), a short rolling window, or one longer than any run here.
             const int choices[] = {0, 0, 1, 4, 16, 64, 4096};
             const int n = choices[uniform(0, 6)];
             note(QStringLiteral("sliding window %1").arg(n));
             p->windowSpin()->setValue(n);
             QCOMPARE(p->config().hasWindow(), n > 0);
         }},
        {"decode steps", 6,
         [&] {
             const int n = uniform(0, kMaxDecode + 1);
             note(QStringLiteral("decode %1").arg(n));
             p->setDecodeSteps(n);
             QVERIFY(p->shape().totalTokens() <= p->config().max_seq);
         }},
        {"dtype", 5,
         [&] {
             if (!p->storageCombo()->isEnabled()) return;
             const int i = uniform(0, p->storageCombo()->count() - 1);
             note(QStringLiteral("storage %1").arg(p->storageCombo()->itemText(i)));
             p->storageCombo()->setCurrentIndex(i);
             QCOMPARE(p->config().kv_dtype, p->config().weight_dtype);
         }},
        {"head_dim", 3,
         [&] {
             if (!p->headDimCombo()->isEnabled()) return;
             const int i = uniform(0, p->headDimCombo()->count() - 1);
             note(QStringLiteral("head_dim %1").arg(p->headDimCombo()->itemText(i)));
             p->headDimCombo()->setCurrentIndex(i);
             QCOMPARE(p->config().head_dim % 2, int64_t{0});
         }},
        {"tab", 8,
         [&] {
             const int t = uniform(0, w.tabs()->count() - 1);
             note(QStringLiteral("tab %1").arg(t));
             w.tabs()->setCurrentIndex(t);
         }},
        {"map view", 3,
         [&] {
             const int layers = static_cast<int>(std::max<int64_t>(1, p->config().n_layers));
             const int layer = uniform(0, layers - 1), head = uniform(0, static_cast<int>(p->config().n_q_heads) - 1);
             const bool single = uniform(0, 1), log = uniform(0, 1), decode = uniform(0, 1);
             const int step = uniform(0, kMaxDecode);
             note(QStringLiteral("maps layer %1 head %2 single %3 log %4 decode %5 step %6")
                      .arg(layer)
                      .arg(head)
                      .arg(single)
                      .arg(log)
                      .arg(decode)
                      .arg(step));
             w.attentionView()->setViewState(
                 layer, single ? AttentionView::Mode::SingleHead : AttentionView::Mode::Grid, head, log, decode, step);
         }},
        {"sweep", 3,
         [&] {
             note(QStringLiteral("sweep"));
             w.startSweep();
         }},
        {"cancel sweep", 2,
         [&] {
             note(QStringLiteral("cancel sweep"));
             w.latencyView()->cancelSweepButton()->click();
         }},
        {"trade-off", 2,
         [&] {
             note(QStringLiteral("trade-off"));
             w.startTradeoff();
         }},
        {"cancel trade-off", 2,
         [&] {
             note(QStringLiteral("cancel trade-off"));
             w.tradeoffView()->cancelButton()->click();
         }},
        {"run now", 3,
         [&] {
             note(QStringLiteral("run now"));
             w.requestRunNow();
         }},
        {"cancel run", 2,
         [&] {
             // Also while a session's checkpoint reopens: the window then stays on the session's synthetic model.
             note(QStringLiteral("cancel run"));
             w.cancelRunButton()->click();
         }},
        {"pin", 2,
         [&] {
             note(QStringLiteral("pin / unpin"));
             if (uniform(0, 2) == 0)
                 w.clearPin();
             else
                 w.pin();
         }},
        {"session", 3,
         [&] {
             const QString path = dir.filePath(QStringLiteral("session%1.json").arg(sessions++ % 4));
             note(QStringLiteral("session save + open %1").arg(path));
             const bool real = p->isRealModel();
             const ModelConfig before = p->config();
             const RunShape shape = p->shape();
             QString error;
             QVERIFY2(w.saveSession(path, &error), qPrintable(error));
             QVERIFY2(w.loadSession(path, &error), qPrintable(error));
             if (!real) {  // a checkpoint's session reopens the checkpoint (asynchronously)
                 const ModelConfig after = p->config();
                 QCOMPARE(after.n_q_heads, before.n_q_heads);
                 QCOMPARE(after.n_kv_heads, before.n_kv_heads);
                 QCOMPARE(after.n_layers, before.n_layers);
                 QCOMPARE(after.head_dim, before.head_dim);
                 QCOMPARE(after.weight_dtype, before.weight_dtype);
                 QCOMPARE(p->shape().prompt_len, shape.prompt_len);
                 QCOMPARE(p->shape().batch, shape.batch);
                 QCOMPARE(p->shape().decode_steps, shape.decode_steps);
             }
         }},
        {"corrupt session", 1,
         [&] {
             const QString path = dir.filePath(QStringLiteral("corrupt.json"));
             note(QStringLiteral("corrupt session"));
             QByteArray text = sessionToJson(w.currentSession());
             // n_kv_heads = n_q_heads + 1 never divides n_q_heads: refused, whatever the rest says.
             const Session s = w.currentSession();
             text.replace(QByteArray("\"n_kv_heads\": ") + QByteArray::number(qlonglong(s.config.n_kv_heads)),
                          QByteArray("\"n_kv_heads\": ") + QByteArray::number(qlonglong(s.config.n_q_heads + 1)));
             if (uniform(0, 1)) text.truncate(text.size() / 2);  // or not even JSON
             QFile f(path);
             QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
             f.write(text);
             f.close();
             const ModelConfig before = p->config();
             QString error;
             QVERIFY(!w.loadSession(path, &error));
             QVERIFY(!error.isEmpty());
             QCOMPARE(p->config().n_kv_heads, before.n_kv_heads);
             QCOMPARE(p->config().n_q_heads, before.n_q_heads);
         }},
        {"export", 3,
         [&] {
             const int tab = uniform(0, w.tabs()->count() - 1);
             const QList<QCustomPlot*> plots = w.plotsOfTab(tab);
             if (plots.isEmpty()) return;
             QCustomPlot* plot = plots.at(uniform(0, static_cast<int>(plots.size()) - 1));
             const bool png = uniform(0, 1);
             const QString path =
                 dir.filePath(QStringLiteral("export%1.%2").arg(exports++ % 4).arg(png ? "png" : "csv"));
             note(QStringLiteral("export tab %1 %2").arg(tab).arg(path));
             QString error;
             QVERIFY2(exportPlot(plot, path, png ? ExportFormat::Png : ExportFormat::Csv, &error), qPrintable(error));
             QFile f(path);
             QVERIFY(f.open(QIODevice::ReadOnly));
             const QByteArray head = f.read(64);
             if (png)
                 QCOMPARE(head.left(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
             else
                 QVERIFY2(head.startsWith("layer,head,") || head.startsWith("axis_rect,series,"), head.constData());
         }},
        {"open model", have_model ? 2 : 0,
         [&] {
#ifdef GQA_TESTDATA_DIR
             const int i = uniform(0, static_cast<int>(kModelFiles.size()));
             if (i == kModelFiles.size()) {  // not a checkpoint: refused with a message
                 note(QStringLiteral("open a missing model"));
                 w.openModel(dir.filePath(QStringLiteral("missing.gguf")));
                 return;
             }
             note(QStringLiteral("open model %1").arg(kModelFiles.at(i)));
             w.openModel(modelPath(i));
#endif
         }},
        {"prompt", have_model ? 3 : 0,
         [&] {
             if (!w.promptPanel()->hasTokenizer()) return;
             QStringList words;
             const int n = uniform(0, 8);
             for (int k = 0; k < n; ++k)
                 words << kPromptWords.at(uniform(0, static_cast<int>(kPromptWords.size()) - 1));
             note(QStringLiteral("prompt '%1'").arg(words.join(QLatin1Char(' '))));
             w.promptPanel()->setPrompt(words.join(QLatin1Char(' ')));
         }},
    };
    int total_weight = 0;
    for (const Kind& k : kinds) total_weight += k.weight;

    // The first edits take every kind once (in a shuffled order), so the baseline has seen each of them.
    std::vector<int> first;
    for (int i = 0; i < static_cast<int>(kinds.size()); ++i)
        if (kinds[static_cast<size_t>(i)].weight > 0) first.push_back(i);
    std::shuffle(first.begin(), first.end(), m_rng);

    qint64 rss_baseline = -1, rss_baseline_raw = -1, heap_baseline = -1;
    for (m_step = 1; m_step <= edits; ++m_step) {
        int pick = -1;
        if (m_step <= static_cast<int>(first.size())) {
            pick = first[static_cast<size_t>(m_step - 1)];
        } else {
            int r = uniform(0, total_weight - 1);
            for (pick = 0; r >= kinds[static_cast<size_t>(pick)].weight; ++pick)
                r -= kinds[static_cast<size_t>(pick)].weight;
        }
        kinds[static_cast<size_t>(pick)].run();
        if (QTest::currentTestFailed()) {
            qWarning("soak: failed at edit %d; last edits:\n%s", m_step, qPrintable(recentEdits()));
            return;
        }
        keepSmall();
        const int wait = uniform(0, 20);
        if (wait == 0)
            QCoreApplication::processEvents();
        else
            QTest::qWait(wait);

        if (m_step % 100 == 0 || m_step == edits) {
            settle("checkpoint");
            if (QTest::currentTestFailed()) return;
            // A cancelled or failed latest run leaves the analytic picture: ask once more for a result.
            if (m_w->shownRunId() != m_w->requestedRunId()) {
                w.requestRunNow();
                settle("checkpoint rerun");
                if (QTest::currentTestFailed()) return;
            }
            checkViewsDescribeControls();
            if (QTest::currentTestFailed()) return;
            qInfo("soak: %d edits, %.1f s, request %llu, RSS %lld kB, %s", m_step, clock.elapsed() / 1000.0,
                  static_cast<unsigned long long>(w.requestedRunId()), static_cast<long long>(residentKb()),
                  p->isRealModel() ? "checkpoint" : qPrintable(p->presetName()));
            if (m_step == baseline_at) {
                // Resident memory is compared in one state: what the edits left behind, not what the last
                // configuration needs (a 152k-token vocabulary's embedding alone is tens of MB).
                toReferenceState();
                if (QTest::currentTestFailed()) return;
                rss_baseline_raw = residentKb();
                rss_baseline = liveResidentKb();
                heap_baseline = heapInUseKb();
            }
        }
    }
    toReferenceState();
    if (QTest::currentTestFailed()) return;
    const qint64 rss_end_raw = residentKb();
    const qint64 rss_end = liveResidentKb();
    const qint64 heap_end = heapInUseKb();
    qInfo(
        "soak: %d edits in %.1f s; in the reference state after %d edits: RSS %lld kB (%lld kB before trimming "
        "the heap), heap in use %lld kB; after %d edits: RSS %lld kB (%lld kB), heap in use %lld kB; RSS %+.1f %%",
        edits, clock.elapsed() / 1000.0, baseline_at, static_cast<long long>(rss_baseline),
        static_cast<long long>(rss_baseline_raw), static_cast<long long>(heap_baseline), edits,
        static_cast<long long>(rss_end), static_cast<long long>(rss_end_raw), static_cast<long long>(heap_end),
        100.0 * static_cast<double>(rss_end - rss_baseline) / static_cast<double>(rss_baseline));
    QVERIFY(rss_baseline > 0 && rss_end > 0);
    // Growth is what a leak looks like; less memory at the end is fine.
    QVERIFY2(rss_end <= rss_baseline + rss_baseline / 5,
             qPrintable(QStringLiteral("RSS grew from %1 kB after %2 edits to %3 kB after %4")
                            .arg(rss_baseline)
                            .arg(baseline_at)
                            .arg(rss_end)
                            .arg(edits)));
    w.close();
    m_w = nullptr;
}

void TestSoak::syntheticSessionOverCheckpoint() {
#ifndef GQA_TESTDATA_DIR
    QSKIP("no shared test data (GQA_TESTDATA_DIR)");
#else
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("synthetic.json"));
    {
        MainWindow w(soakOptions());
        w.controlPanel()->setPromptLength(16);
        w.controlPanel()->setDecodeSteps(2);
        QString error;
        QVERIFY2(w.saveSession(path, &error), qPrintable(error));
    }
    MainWindow w(soakOptions());
    w.openModel(modelPath(1));
    QVERIFY(
        QTest::qWaitFor([&] { return w.model() && w.result() && w.shownRunId() == w.requestedRunId(); }, kSettleMs));
    QString error;
    QVERIFY2(w.loadSession(path, &error), qPrintable(error));
    QVERIFY(QTest::qWaitFor(
        [&] { return !w.debounceTimer()->isActive() && w.result() && w.shownRunId() == w.requestedRunId(); },
        kSettleMs));
    const ModelConfig c = w.controlPanel()->config();
    const RunResult& r = *w.result();
    const QString what = QStringLiteral(
                             "controls: %1, head_dim %2, %3 tokens, checkpoint mode %4; shown run: %5, "
                             "head_dim %6, %7 tokens")
                             .arg(QString::fromStdString(c.name))
                             .arg(c.head_dim)
                             .arg(w.controlPanel()->shape().prompt_len)
                             .arg(w.controlPanel()->isRealModel())
                             .arg(QString::fromStdString(r.config.name))
                             .arg(r.config.head_dim)
                             .arg(r.shape.prompt_len);
    QVERIFY2(r.config.head_dim == c.head_dim && r.shape.prompt_len == w.controlPanel()->shape().prompt_len &&
                 !w.controlPanel()->isRealModel(),
             qPrintable(what));
#endif
}

QTEST_MAIN(TestSoak)
#include "tst_soak.moc"
