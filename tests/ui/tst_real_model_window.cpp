// The window on the shared tiny-llama-gqa checkpoint (each of its three files), read in place: the maps carry
// the reference prompt's tokens, the top-1 next token is the reference greedy token, and one KV head (a live
// mean-pool conversion from 2) changes the prompt's perplexity and halves the KV-cache bytes. Expected values
// come from reference/expected.json (llama.cpp), never from this program's output.
#include <qcustomplot.h>
#include <QPushButton>
#include <QTableWidget>
#include <QtTest>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>

#include "attention_view.h"
#include "control_panel.h"
#include "diversity_view.h"
#include "gqa/tokenizer.h"
#include "head_stats_view.h"
#include "main_window.h"
#include "prompt_panel.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

constexpr int kTimeoutMs = 60000;

#ifdef GQA_TESTDATA_DIR
QString modelDir() {
    return QStringLiteral(GQA_TESTDATA_DIR "/models/tiny-llama-gqa");
}
#endif

MainWindowOptions testOptions() {
    MainWindowOptions o;
    o.use_settings = false;
    o.restore_session = false;
    o.debounce_ms = 20;
    return o;
}

}  // namespace

class TestRealModelWindow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
#ifndef GQA_TESTDATA_DIR
        QSKIP("no shared test data (GQA_TESTDATA_DIR)");
#else
        QStandardPaths::setTestModeEnabled(true);
        QFile f(modelDir() + QStringLiteral("/reference/expected.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject p =
            QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("prompts")).toArray().at(0).toObject();
        m_prompt = p.value(QStringLiteral("prompt")).toString();
        for (const QJsonValue v : p.value(QStringLiteral("tokens")).toArray()) m_tokens.push_back(v.toInt());
        m_greedy = p.value(QStringLiteral("greedy")).toArray().at(0).toInt();
        m_greedyQ8 = p.value(QStringLiteral("q8_0_llama_cpp"))
                         .toObject()
                         .value(QStringLiteral("greedy"))
                         .toArray()
                         .at(0)
                         .toInt();
        QVERIFY(!m_tokens.empty());
#endif
    }

    void eachFile_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<bool>("q8");
        QTest::newRow("hf") << QStringLiteral("hf") << false;
        QTest::newRow("bf16.gguf") << QStringLiteral("tiny-llama-gqa-bf16.gguf") << false;
        QTest::newRow("q8_0.gguf") << QStringLiteral("tiny-llama-gqa-q8_0.gguf") << true;
    }

    void eachFile() {
#ifdef GQA_TESTDATA_DIR
        QFETCH(QString, file);
        QFETCH(bool, q8);
        MainWindow w(testOptions());
        w.openModel(modelDir() + QLatin1Char('/') + file);
        QVERIFY(QTest::qWaitFor([&] { return w.model() != nullptr || !w.isLoadingModel(); }, kTimeoutMs));
        QVERIFY2(w.model(), qPrintable(w.statusText()));
        QVERIFY(w.windowTitle().contains(QString::fromStdString(w.model()->config.architecture)));
        QVERIFY(!w.controlPanel()->queryHeadsSpin()->isEnabled());  // fixed by the checkpoint
        QSignalSpy ppl(w.controller(), &EngineController::promptScoreAvailable);
        w.promptPanel()->setPrompt(m_prompt);
        const auto T = static_cast<int64_t>(m_tokens.size());
        auto shown = [&] {
            return w.result() && w.shownRunId() == w.requestedRunId() && w.result()->shape.prompt_len == T &&
                   w.result()->config.n_kv_heads == w.controlPanel()->config().n_kv_heads;
        };
        QVERIFY(QTest::qWaitFor(shown, kTimeoutMs));
        QCOMPARE(w.result()->prompt_tokens, m_tokens);

        // Token strings on the maps: the reference prompt's tokens, as the tokenizer displays them.
        const QStringList pieces = w.attentionView()->tokenPieces();
        QCOMPARE(pieces.size(), static_cast<int>(T));
        const Tokenizer& tok = *w.model()->tokenizer;
        for (int64_t t = 0; t < T; ++t)
            QCOMPARE(pieces[static_cast<int>(t)],
                     QString::fromStdString(tok.displayPiece(m_tokens[static_cast<size_t>(t)])));

        // The selected query's most attended tokens, per head: the largest weights of its map row, descending,
        // named by their tokens. A click on a map row selects that query.
        AttentionView* att = w.attentionView();
        QCOMPARE(att->selectedQuery(), T - 1);
        const LayerMaps& lm = w.result()->prompt_maps.front();
        QCOMPARE(att->topKeysTable()->rowCount(), static_cast<int>(lm.heads.size()));
        for (size_t hi = 0; hi < lm.heads.size(); ++hi) {
            const auto top = att->topKeys(lm.heads[hi], T - 1, 3);
            QCOMPARE(top.size(), size_t{3});
            double best = 0.0;
            for (int64_t j = 0; j < T; ++j) best = std::max<double>(best, lm.at(0, static_cast<int64_t>(hi), T - 1, j));
            QCOMPARE(top[0].second, best);
            QVERIFY(top[0].second >= top[1].second && top[1].second >= top[2].second);
        }
        QVERIFY(att->topKeysTable()->item(0, 2)->text().contains(
            pieces[static_cast<int>(att->topKeys(lm.heads[0], T - 1, 1)[0].first)]));
        att->plot()->replot(QCustomPlot::rpImmediateRefresh);
        QTest::mouseClick(att->plot(), Qt::LeftButton, {}, att->cellCenter(0, 3, 1).toPoint());
        QCOMPARE(att->selectedQuery(), int64_t{3});
        QCOMPARE(att->topKeysTable()->rowCount(), static_cast<int>(lm.heads.size()));
        att->selectQuery(-1);

        // The next-token panel's top-1 is the reference greedy token.
        const auto top = PromptPanel::topNext(*w.result(), 5);
        QVERIFY(!top.empty());
        QCOMPARE(top.front().first, q8 ? m_greedyQ8 : m_greedy);
        QCOMPARE(w.promptPanel()->topKTable()->item(0, 1)->text(), QString::number(top.front().first));

        QVERIFY(QTest::qWaitFor([&] { return ppl.count() > 0 && ppl.last().at(0).toULongLong() == w.requestedRunId(); },
                                kTimeoutMs));
        const double ppl_base = ppl.last().at(1).toDouble();
        const int64_t kv_base = w.analysis()->memory.kv_cache_bytes;

        // One KV head: a live conversion; perplexity moves, KV bytes halve (2 -> 1).
        QVERIFY(w.controlPanel()->setKvHeads(1));
        QVERIFY(QTest::qWaitFor(shown, kTimeoutMs));
        QCOMPARE(w.result()->config.n_kv_heads, int64_t{1});
        QVERIFY(QTest::qWaitFor([&] { return ppl.last().at(0).toULongLong() == w.requestedRunId(); }, kTimeoutMs));
        const double ppl_mqa = ppl.last().at(1).toDouble();
        QVERIFY2(std::abs(ppl_mqa - ppl_base) > 1e-6 * ppl_base,
                 qPrintable(QStringLiteral("%1 vs %2").arg(ppl_mqa).arg(ppl_base)));
        QCOMPARE(w.analysis()->memory.kv_cache_bytes * 2, kv_base);

        // Generate: the text appears token by token as the run produces it (one signal per decode step, in
        // order), and the finished run's tokens are the streamed ones.
        QVERIFY(w.controlPanel()->setKvHeads(w.model()->config.n_kv_heads));
        QSignalSpy streamed(w.controller(), &EngineController::tokenGenerated);
        w.promptPanel()->generateSpin()->setValue(5);
        w.promptPanel()->generateButton()->click();
        auto generated = [&] { return shown() && w.result()->shape.decode_steps == 5; };
        QVERIFY(QTest::qWaitFor(generated, kTimeoutMs));
        std::vector<int32_t> got;
        for (const QList<QVariant>& sig : streamed)
            if (sig.at(0).toULongLong() == w.requestedRunId()) {
                QCOMPARE(sig.at(1).toLongLong(), static_cast<qint64>(got.size()));
                got.push_back(sig.at(2).toInt());
            }
        QCOMPARE(got, w.result()->generated.at(0));
        QCOMPARE(w.promptPanel()->streamedTokens(), got);
        QCOMPARE(got.front(), q8 ? m_greedyQ8 : m_greedy);
#endif
    }

    // The Head statistics and Head diversity tabs on the checkpoint: the live model (2 KV heads) and its
    // conversion to 1, analysed on the prompt; a click on a head's row opens that head's map.
    void headAnalysisTabs() {
#ifdef GQA_TESTDATA_DIR
        MainWindow w(testOptions());
        w.openModel(modelDir() + QStringLiteral("/hf"));
        QVERIFY(QTest::qWaitFor([&] { return w.model() != nullptr || !w.isLoadingModel(); }, kTimeoutMs));
        QVERIFY2(w.model(), qPrintable(w.statusText()));
        w.promptPanel()->setPrompt(m_prompt);
        QVERIFY(QTest::qWaitFor(
            [&] { return w.result() && w.result()->shape.prompt_len == static_cast<int64_t>(m_tokens.size()); },
            kTimeoutMs));
        QSignalSpy done(w.controller(), &EngineController::groupingAnalysisAvailable);
        w.tabs()->setCurrentIndex(MainWindow::HeadStatsTab);
        QVERIFY(QTest::qWaitFor([&] { return done.count() > 0; }, kTimeoutMs));
        const GroupingAnalysisPtr a = w.groupingAnalysis();
        QVERIFY(a);
        QCOMPARE(a->original.config.n_kv_heads, int64_t{2});
        QCOMPARE(a->converted.config.n_kv_heads, int64_t{1});
        QCOMPARE(a->original.prompt_len, static_cast<int64_t>(m_tokens.size()));
        QCOMPARE(static_cast<int64_t>(a->original.layers.size()), w.model()->config.n_layers);
        const auto heads = w.headStatsView()->shownHeads();
        QCOMPARE(static_cast<int64_t>(heads.size()), w.model()->config.n_q_heads);
        QCOMPARE(w.headStatsView()->shownValue(0, HeadStatsView::Stat::Entropy),
                 a->original.layers.front().heads.front().mean.entropy_bits);
        QVERIFY(w.diversityView()->originalMap() && w.diversityView()->convertedMap());
        // Switching tabs does not recompute what is shown.
        w.tabs()->setCurrentIndex(MainWindow::DiversityTab);
        QTest::qWait(50);
        QCOMPARE(done.count(), 1);
        // A head's row opens its map.
        w.tabs()->setCurrentIndex(MainWindow::HeadStatsTab);
        QSignalSpy activated(w.headStatsView(), &HeadStatsView::headActivated);
        emit w.headStatsView()->table()->cellClicked(5, HeadStatsView::statColumn(HeadStatsView::Stat::Entropy));
        QCOMPARE(activated.count(), 1);
        QCOMPARE(w.tabs()->currentIndex(), int(MainWindow::AttentionTab));
        QCOMPARE(w.attentionView()->mode(), AttentionView::Mode::SingleHead);
        QCOMPARE(w.attentionView()->head(), static_cast<int>(heads[5]));
#endif
    }

    // A session whose checkpoint is gone opens with a clear message and the rest of its state.
    void sessionWithMissingModel() {
#ifdef GQA_TESTDATA_DIR
        MainWindow w(testOptions());
        Session s = w.currentSession();
        s.model_path = QStringLiteral("/nonexistent/model-dir");
        s.prompt = QStringLiteral("hello");
        s.view.tab = MainWindow::MemoryTab;
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("s.json"));
        QString error;
        QVERIFY(saveSessionFile(s, path, &error));
        QVERIFY2(w.loadSession(path, &error), qPrintable(error));
        QVERIFY(w.statusText().contains(QStringLiteral("is gone")));
        QCOMPARE(w.tabs()->currentIndex(), static_cast<int>(MainWindow::MemoryTab));
        auto back = loadSessionFile(path, &error);
        QVERIFY(back);
        QCOMPARE(back->model_path, s.model_path);
        QCOMPARE(back->prompt, s.prompt);
#endif
    }

private:
    QString m_prompt;
    std::vector<int32_t> m_tokens;
    int32_t m_greedy = -1;
    int32_t m_greedyQ8 = -1;
};

QTEST_MAIN(TestRealModelWindow)
#include "tst_real_model_window.moc"
