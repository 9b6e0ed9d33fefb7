// The analysis views: the per-head statistics heat table, the head-diversity matrices of the original and the
// converted model, and the tensor-parallel table of the Memory view. The first two draw real engine results:
// the teaching preset built as MHA (8 KV heads), analysed on the CPU backend, and its conversion to 2 KV heads
// (GQA) and to 1 (MQA). The TP table is checked against the analytic KV-cache formula.
// With GQA_SCREENSHOT_DIR set, each view is also grabbed to a PNG there at 1280 x 800.
#include <QtTest>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHeaderView>
#include <QSpinBox>
#include <QTableWidget>

#include <qcustomplot.h>

#include <cmath>
#include <memory>

#include "diversity_view.h"
#include "gqa/analysis.h"
#include "gqa/convert.h"
#include "gqa/memory_model.h"
#include "gqa/presets.h"
#include "gqa/weights.h"
#include "head_stats_view.h"
#include "memory_view.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("GQA_SCREENSHOT_DIR");
    if (dir.isEmpty()) return;
    w->resize(1280, 800);
    w->show();
    QVERIFY(QTest::qWaitForWindowExposed(w));
    for (QCustomPlot* p : w->findChildren<QCustomPlot*>()) p->replot();
    QVERIFY(w->grab().save(dir + QLatin1Char('/') + name));
}

// What the Memory view is handed: the memory model's side of the worker's analysis, for `cfg` at this shape.
AnalysisPtr analysisOf(const ModelConfig& cfg, int64_t batch, int64_t prompt_len, int64_t decode_steps,
                       int64_t device_bytes) {
    auto a = std::make_shared<Analysis>();
    a->config = cfg;
    a->shape.batch = batch;
    a->shape.prompt_len = prompt_len;
    a->shape.decode_steps = decode_steps;
    a->device.backend = "cpu";
    a->device.name = "Fake GPU";
    a->device.total_bytes = a->device.available_bytes = device_bytes;
    const int64_t seq = a->shape.totalTokens();
    ModelConfig mha = cfg, mqa = cfg;
    mha.n_kv_heads = cfg.n_q_heads;
    mqa.n_kv_heads = 1;
    a->memory = estimateMemory(cfg, batch, seq);
    a->memory_mha = estimateMemory(mha, batch, seq);
    a->memory_mqa = estimateMemory(mqa, batch, seq);
    a->fit = predictFit(cfg, batch, seq, device_bytes);
    a->max_context_tokens = maxContextThatFits(cfg, batch, device_bytes);
    a->max_batch = maxBatchThatFits(cfg, seq, device_bytes);
    for (int64_t s = 0; s <= cfg.max_seq; s += std::max<int64_t>(1, cfg.max_seq / 64)) {
        a->curve_seq.push_back(static_cast<double>(s));
        a->curve_kv_mha.push_back(static_cast<double>(estimateMemory(mha, batch, s).kv_cache_bytes));
        a->curve_kv_current.push_back(static_cast<double>(estimateMemory(cfg, batch, s).kv_cache_bytes));
        a->curve_kv_mqa.push_back(static_cast<double>(estimateMemory(mqa, batch, s).kv_cache_bytes));
    }
    return a;
}

// A hand-built analysis of n_q heads in n_kv groups over two layers: deterministic values, the shapes a
// 32-head checkpoint gives (no model needed).
ModelAnalysis handBuilt(int64_t n_q, int64_t n_kv) {
    ModelAnalysis a;
    a.config = *findPreset("teaching");
    a.config.n_q_heads = n_q;
    a.config.n_kv_heads = n_kv;
    a.prompt_len = 128;
    a.distances = defaultDistances(128);
    const int64_t g = n_q / n_kv;
    for (int64_t l = 0; l < 2; ++l) {
        LayerAnalysis la;
        la.layer = l;
        for (int64_t h = 0; h < n_q; ++h) {
            HeadStats s;
            s.head = h;
            s.kv_head = h / g;
            s.rows = 126;
            const double u = std::fmod(0.37 * static_cast<double>(h * 7 + l * 3), 1.0);
            s.mean = {1.0 + 5.0 * u, 2.0 + 40.0 * u, 0.5 * (1 - u), 0.3 * u, 0.2 + 0.6 * (1 - u), 0.3 * u};
            la.heads.push_back(s);
        }
        GroupDiversity& d = la.diversity;
        for (int64_t h = 0; h < n_q; ++h) {
            d.heads.push_back(h);
            d.kv_head.push_back(h / g);
        }
        d.js_bits.assign(static_cast<size_t>(n_q * n_q), 0.0);
        for (int64_t i = 0; i < n_q; ++i)
            for (int64_t k = 0; k < n_q; ++k)
                if (i != k)
                    d.js_bits[static_cast<size_t>(i * n_q + k)] =
                        (i / g == k / g ? 0.15 : 0.45) + 0.05 * std::sin(static_cast<double>(i + k + l));
        if (g > 1) d.mean_within_bits = 0.15 + 0.01 * static_cast<double>(l);
        if (n_kv > 1) d.mean_between_bits = 0.45 - 0.01 * static_cast<double>(l);
        for (size_t i = 0; i < a.distances.size(); ++i) la.mass_beyond.push_back(1.0 / (1.0 + static_cast<double>(i)));
        a.layers.push_back(la);
    }
    return a;
}

}  // namespace

class TestAnalysisViews : public QObject {
    Q_OBJECT
private:
    ModelAnalysis m_mha, m_gqa, m_mqa;  // teaching preset as MHA, converted to 2 KV heads and to 1

private slots:
    void initTestCase() {
        auto cfg = findPreset("teaching");
        QVERIFY(cfg);
        cfg->n_kv_heads = cfg->n_q_heads;  // 8 query heads, 8 KV heads
        QVERIFY(cfg->validate().isOk());
        auto model = makeSyntheticModel(*cfg, 1234, WeightsMode::Structured);
        QVERIFY(model);
        const std::vector<int32_t> tokens = makeTokens(1, 48, cfg->vocab_size, 1234);
        auto backend = createCpuBackend();
        AnalyzeOptions opt;
        auto mha = analyzeModel(*backend, *model, tokens, opt);
        QVERIFY(mha);
        m_mha = *mha;
        for (int64_t kv : {int64_t{2}, int64_t{1}}) {
            auto conv = convertKvHeads(*model, kv, ConvertMethod::MeanPool);
            QVERIFY(conv);
            auto a = analyzeModel(*backend, *conv, tokens, opt);
            QVERIFY(a);
            (kv == 2 ? m_gqa : m_mqa) = *a;
        }
        QCOMPARE(m_gqa.config.n_kv_heads, int64_t{2});
        QVERIFY(m_mha.layers.size() >= 2);
    }

    // One row per query head, in KV-group order, each group's "KV k" cell spanning its heads, and the values
    // the engine measured in the statistic columns.
    void headStatsTableHoldsTheStatistics() {
        HeadStatsView view;
        view.setAnalysis(m_gqa);
        QTableWidget* t = view.table();
        const LayerAnalysis& la = m_gqa.layers.front();
        QCOMPARE(view.currentLayer(), static_cast<int>(la.layer));
        QCOMPARE(t->rowCount(), 8);
        // Structured synthetic heads: a last "built as" column names each head's role.
        QCOMPARE(t->columnCount(), 2 + HeadStatsView::StatCount);
        QCOMPARE(view.roleColumn(), 1 + HeadStatsView::StatCount);
        const std::vector<int64_t> heads = view.shownHeads();
        QCOMPARE(heads, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
        QCOMPARE(t->item(0, 0)->text(), QStringLiteral("KV 0"));
        QCOMPARE(t->rowSpan(0, 0), 4);
        QCOMPARE(t->item(4, 0)->text(), QStringLiteral("KV 1"));
        QCOMPARE(t->rowSpan(4, 0), 4);
        for (int r = 0; r < 8; ++r) {
            const HeadStats* h = nullptr;
            for (const HeadStats& s : la.heads)
                if (s.head == heads[static_cast<size_t>(r)]) h = &s;
            QVERIFY(h);
            QCOMPARE(h->kv_head, heads[static_cast<size_t>(r)] / 4);
            QCOMPARE(t->verticalHeaderItem(r)->text(), QStringLiteral("Q%1").arg(h->head));
            const double want[] = {h->mean.entropy_bits,    h->mean.mean_distance, h->mean.sink_mass,
                                   h->mean.prev_token_mass, h->mean.local_mass,    h->mean.long_range_mass};
            QCOMPARE(view.shownRole(r), QString::fromLatin1(headRoleName(h->role)));
            QVERIFY(t->item(r, view.roleColumn())->toolTip().contains(QString::fromLatin1(headRoleName(h->role))));
            for (int s = 0; s < HeadStatsView::StatCount; ++s) {
                const auto stat = static_cast<HeadStatsView::Stat>(s);
                QCOMPARE(view.shownValue(r, stat), want[s]);
                const QTableWidgetItem* item = t->item(r, HeadStatsView::statColumn(stat));
                QVERIFY(item);
                QCOMPARE(item->data(Qt::UserRole + 2).toDouble(), want[s]);
                QVERIFY(std::abs(item->text().toDouble() - want[s]) <= 0.051);
                QVERIFY(!item->toolTip().isEmpty());
            }
        }
        for (int c = 1; c < t->columnCount(); ++c) QVERIFY(!t->horizontalHeaderItem(c)->toolTip().isEmpty());
    }

    // Heads listed out of order by the engine still come out grouped by their KV head.
    void headStatsOrderedByGroup() {
        ModelAnalysis a;
        a.config = m_gqa.config;
        a.config.n_q_heads = 4;
        a.config.n_kv_heads = 2;
        LayerAnalysis la;
        la.layer = 3;
        for (int64_t h : {3, 0, 2, 1}) {
            HeadStats s;
            s.head = h;
            s.kv_head = h / 2;
            s.mean.sink_mass = 0.1 * static_cast<double>(h);
            la.heads.push_back(s);
        }
        a.layers.push_back(la);
        HeadStatsView view;
        view.setAnalysis(m_gqa);  // groups of 4 first: its spans must not survive into the groups of 2
        view.setAnalysis(a);
        QCOMPARE(view.currentLayer(), 3);
        QCOMPARE(view.shownHeads(), (std::vector<int64_t>{0, 1, 2, 3}));
        QCOMPARE(view.roleColumn(), -1);  // nor its "built as" column: these heads have no roles
        QCOMPARE(view.table()->columnCount(), 1 + HeadStatsView::StatCount);
        QCOMPARE(view.table()->rowSpan(0, 0), 2);
        QCOMPARE(view.table()->rowSpan(2, 0), 2);
        QCOMPARE(view.shownValue(2, HeadStatsView::SinkMass), 0.2);
        QCOMPARE(view.table()->item(2, 0)->text(), QStringLiteral("KV 1"));
        view.clear(QStringLiteral("Computing…"));
        QCOMPARE(view.table()->rowCount(), 0);
        QCOMPARE(view.currentLayer(), -1);
        QVERIFY(view.infoText().contains(QStringLiteral("Computing")));
    }

    void clickEmitsHeadActivated_data() {
        QTest::addColumn<int>("row");
        QTest::addColumn<int>("column");
        QTest::newRow("Q5, sink mass") << 5 << HeadStatsView::statColumn(HeadStatsView::SinkMass);
        QTest::newRow("Q0, entropy") << 0 << HeadStatsView::statColumn(HeadStatsView::Entropy);
        QTest::newRow("Q7, long range") << 7 << HeadStatsView::statColumn(HeadStatsView::LongRangeMass);
    }

    void clickEmitsHeadActivated() {
        QFETCH(int, row);
        QFETCH(int, column);
        HeadStatsView view;
        view.resize(1000, 500);
        view.setAnalysis(m_gqa);
        const int layer = static_cast<int>(m_gqa.layers[1].layer);
        view.setCurrentLayer(layer);
        QCOMPARE(view.currentLayer(), layer);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QSignalSpy spy(&view, &HeadStatsView::headActivated);
        QTableWidget* t = view.table();
        const QRect cell = t->visualItemRect(t->item(row, column));
        QVERIFY(cell.isValid());
        QTest::mouseClick(t->viewport(), Qt::LeftButton, {}, cell.center());
        QCOMPARE(spy.count(), 1);
        QCOMPARE(spy.at(0).at(0).toInt(), layer);
        QCOMPARE(spy.at(0).at(1).toInt(), static_cast<int>(view.shownHeads()[static_cast<size_t>(row)]));
    }

    // Both matrices, n x n cells holding js_bits on one colour scale; the means as numbers, with "—" for the
    // MHA original's missing within-group pairs.
    void diversityShowsBothMatrices() {
        DiversityView view;
        view.setAnalyses(m_mha, m_gqa, QStringLiteral("meanpool"));
        QCOMPARE(view.layerSelector()->count(), static_cast<int>(m_mha.layers.size()));
        view.setCurrentLayer(static_cast<int>(m_mha.layers[1].layer));
        const GroupDiversity& d0 = m_mha.layers[1].diversity;
        const GroupDiversity& d1 = m_gqa.layers[1].diversity;
        QCPColorMap* maps[2] = {view.originalMap(), view.convertedMap()};
        const GroupDiversity* ds[2] = {&d0, &d1};
        for (int k = 0; k < 2; ++k) {
            QVERIFY(maps[k]);
            QCOMPARE(maps[k]->data()->keySize(), 8);
            QCOMPARE(maps[k]->data()->valueSize(), 8);
            for (int a = 0; a < 8; ++a)
                for (int b = 0; b < 8; ++b) QCOMPARE(maps[k]->data()->cell(b, a), ds[k]->at(a, b));
            QCOMPARE(maps[k]->colorScale(), view.colorScale());
        }
        QCOMPARE(maps[0]->dataRange(), maps[1]->dataRange());
        QVERIFY(!d0.mean_within_bits);
        QVERIFY(d0.mean_between_bits && d1.mean_within_bits && d1.mean_between_bits);
        const QString text = view.meansText();
        QVERIFY2(text.contains(QStringLiteral("—")), qPrintable(text));
        QVERIFY(text.contains(QStringLiteral("g = 1")));
        QVERIFY(text.contains(QString::number(*d0.mean_between_bits, 'f', 3)));
        QVERIFY(text.contains(QString::number(*d1.mean_within_bits, 'f', 3)));
        QVERIFY(text.contains(QString::number(*d1.mean_between_bits, 'f', 3)));
        // Over the layers: the original's between-group line and the converted model's two.
        QCOMPARE(view.meansPlot()->graphCount(), 3);
        for (int i = 0; i < 3; ++i)
            QCOMPARE(view.meansPlot()->graph(i)->dataCount(), static_cast<int>(m_mha.layers.size()));
    }

    void diversityMqaHasNoBetweenPairs() {
        DiversityView view;
        view.setAnalyses(m_gqa, m_mqa, QStringLiteral("meanpool"));
        const GroupDiversity& d = m_mqa.layers.front().diversity;
        QVERIFY(!d.mean_between_bits);
        QVERIFY(d.mean_within_bits);
        const QString text = view.meansText();
        QVERIFY(text.contains(QStringLiteral("MQA")));
        QVERIFY(text.contains(QStringLiteral("—")));
        QVERIFY(text.contains(QString::number(*d.mean_within_bits, 'f', 3)));
        view.clear(QStringLiteral("No converted model"));
        QVERIFY(!view.originalMap());
        QCOMPARE(view.currentLayer(), -1);
        QVERIFY(view.infoText().contains(QStringLiteral("No converted model")));
    }

    // deepseek-llm-67b: 64 query heads, 8 KV heads. At t = 16 each GPU holds 4 query heads and one KV head,
    // which lives on 2 GPUs; its KV cache is 2 · layers · batch · tokens · 1 · head_dim · 2 bytes (bf16).
    void memoryViewTensorParallel() {
        auto cfg = findPreset("deepseek-llm-67b");
        QVERIFY(cfg);
        QCOMPARE(cfg->n_layers, int64_t{95});
        QCOMPARE(cfg->n_q_heads, int64_t{64});
        QCOMPARE(cfg->n_kv_heads, int64_t{8});
        QCOMPARE(cfg->head_dim, int64_t{128});
        QCOMPARE(cfg->kv_dtype, DType::BF16);
        QCOMPARE(cfg->sliding_window, int64_t{0});
        MemoryView view;
        view.setData(analysisOf(*cfg, 2, 4000, 96, int64_t{80} << 30), nullptr, std::nullopt);
        QCOMPARE(view.gpuMemoryBytes(), int64_t{80} << 30);
        view.setTpDegree(16);
        QTableWidget* t = view.tpTable();
        const int row = view.tpRowOf(16);
        QVERIFY(row >= 0);
        QCOMPARE(t->item(row, MemoryView::TpDegree)->text(), QStringLiteral("16"));
        QCOMPARE(t->item(row, MemoryView::TpQHeads)->text(), QStringLiteral("4"));
        QCOMPARE(t->item(row, MemoryView::TpKvHeads)->text(), QStringLiteral("1"));
        QCOMPARE(t->item(row, MemoryView::TpReplication)->data(Qt::UserRole).toLongLong(), 2LL);
        QVERIFY(t->item(row, MemoryView::TpReplication)->text().contains(QLatin1Char('2')));
        const int64_t tokens = 4096;
        const int64_t want_kv = 2 * 95 * 2 * tokens * 1 * 128 * 2;
        const TensorParallelPlan plan = planTensorParallel(*cfg, 16, 2, tokens, int64_t{80} << 30);
        QCOMPARE(plan.kv_cache_bytes_per_gpu, want_kv);
        QCOMPARE(t->item(row, MemoryView::TpKvCache)->data(Qt::UserRole).toLongLong(), static_cast<qlonglong>(want_kv));
        QCOMPARE(t->item(row, MemoryView::TpKvCache)->text(), bytesText(want_kv));
        QCOMPARE(t->item(row, MemoryView::TpMaxContext)->data(Qt::UserRole).toLongLong(),
                 static_cast<qlonglong>(plan.max_context_per_gpu));
        QVERIFY(view.tpSummaryText().contains(QStringLiteral("t = 16")));
        // Up to t = n_kv the KV heads split; t = 8 keeps one KV head per GPU without replication.
        const int r8 = view.tpRowOf(8);
        QCOMPARE(t->item(r8, MemoryView::TpKvHeads)->text(), QStringLiteral("1"));
        QCOMPARE(t->item(r8, MemoryView::TpReplication)->data(Qt::UserRole).toLongLong(), 1LL);
        // Powers of two 1..64 all divide 64 and are multiples or divisors of 8: seven valid rows.
        QCOMPARE(t->rowCount(), 7);
        // A degree that is not a power of two is added in order, with the reason it is impossible.
        view.setTpDegree(3);
        QCOMPARE(t->rowCount(), 8);
        const int r3 = view.tpRowOf(3);
        QCOMPARE(r3, 2);
        QVERIFY(!view.tpPlans()[static_cast<size_t>(r3)].valid);
        QVERIFY(t->item(r3, MemoryView::TpQHeads)->text().contains(QStringLiteral("not divisible")));
        QCOMPARE(t->columnSpan(r3, MemoryView::TpQHeads), MemoryView::TpColumns - 1);
        QVERIFY(view.tpSummaryText().contains(QStringLiteral("not possible")));
        // The GPU memory only moves the longest context.
        view.setTpDegree(16);
        view.setGpuMemoryBytes(int64_t{40} << 30);
        QCOMPARE(
            t->item(view.tpRowOf(16), MemoryView::TpMaxContext)->data(Qt::UserRole).toLongLong(),
            static_cast<qlonglong>(planTensorParallel(*cfg, 16, 2, tokens, int64_t{40} << 30).max_context_per_gpu));
        view.setGpuMemoryBytes(int64_t{80} << 30);
        saveShot(&view, QStringLiteral("memory_view_tp.png"));
    }

    void screenshots() {
        if (qEnvironmentVariable("GQA_SCREENSHOT_DIR").isEmpty()) QSKIP("GQA_SCREENSHOT_DIR not set");
        HeadStatsView stats;
        stats.setAnalysis(m_gqa);
        saveShot(&stats, QStringLiteral("head_stats_view.png"));
        DiversityView div;
        div.setAnalyses(m_mha, m_gqa, QStringLiteral("meanpool"));
        saveShot(&div, QStringLiteral("diversity_view.png"));
        DiversityView mqa;
        mqa.setAnalyses(m_gqa, m_mqa, QStringLiteral("meanpool"));
        saveShot(&mqa, QStringLiteral("diversity_view_mqa.png"));
        // 32 query heads: MHA against 4 KV heads, the layout of a real checkpoint.
        DiversityView big;
        big.setAnalyses(handBuilt(32, 32), handBuilt(32, 4), QStringLiteral("meanpool"));
        QCOMPARE(big.originalMap()->data()->keySize(), 32);
        saveShot(&big, QStringLiteral("diversity_view_32.png"));
        HeadStatsView big_stats;
        big_stats.setAnalysis(handBuilt(32, 4));
        QCOMPARE(big_stats.table()->rowCount(), 32);
        QCOMPARE(big_stats.roleColumn(), -1);  // a checkpoint's heads (all Content) have no "built as" column
        saveShot(&big_stats, QStringLiteral("head_stats_view_32.png"));
        // The teaching preset (8 query heads, 2 KV heads) has impossible degrees: t = 6, 16, 32, 64.
        MemoryView memory;
        memory.setData(analysisOf(*findPreset("teaching"), 1, 64, 16, int64_t{8} << 30), nullptr, std::nullopt);
        memory.setTpDegree(6);
        saveShot(&memory, QStringLiteral("memory_view_tp_teaching.png"));
    }
};

QTEST_MAIN(TestAnalysisViews)
#include "tst_analysis_views.moc"
