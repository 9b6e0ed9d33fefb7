// The Trade-off tab on the shared tiny-llama-gqa checkpoint (read in place): the sweep runs on the checkpoint
// itself, plots the prompt's perplexity for both conversion methods, and "Save converted model" writes a
// directory that loadModel reads back at the chosen KV-head count. The expected perplexity comes from
// reference/expected.json (llama.cpp), never from this program's output.
#include <QtTest>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>

#include <cmath>

#include "control_panel.h"
#include "gqa/model.h"
#include "main_window.h"
#include "prompt_panel.h"
#include "tradeoff_view.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

constexpr int kTimeoutMs = 120000;

MainWindowOptions testOptions() {
    MainWindowOptions o;
    o.use_settings = false;
    o.restore_session = false;
    o.debounce_ms = 20;
    return o;
}

}  // namespace

class TestTradeoffRealWindow : public QObject {
    Q_OBJECT
private slots:
    void perplexityPointsAndSave() {
#ifndef GQA_TESTDATA_DIR
        QSKIP("no shared test data (GQA_TESTDATA_DIR)");
#else
        QStandardPaths::setTestModeEnabled(true);
        const QString dir = QStringLiteral(GQA_TESTDATA_DIR "/models/tiny-llama-gqa");
        QFile f(dir + QStringLiteral("/reference/expected.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject ref =
            QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("prompts")).toArray().at(0).toObject();
        const QString prompt = ref.value(QStringLiteral("prompt")).toString();
        const auto n_tokens = ref.value(QStringLiteral("tokens")).toArray().size();

        MainWindow w(testOptions());
        w.openModel(dir + QStringLiteral("/hf"));
        QVERIFY(QTest::qWaitFor([&] { return w.model() != nullptr || !w.isLoadingModel(); }, kTimeoutMs));
        QVERIFY2(w.model(), qPrintable(w.statusText()));
        w.promptPanel()->setPrompt(prompt);
        QVERIFY(QTest::qWaitFor([&] { return static_cast<qsizetype>(w.promptPanel()->tokens().size()) == n_tokens; },
                                kTimeoutMs));

        TradeoffView* view = w.tradeoffView();
        QVERIFY(!view->saveButton()->isEnabled());  // nothing swept yet
        w.tabs()->setCurrentIndex(MainWindow::TradeoffTab);
        QVERIFY(QTest::qWaitFor([&] { return view->outcome() && !view->isSweeping(); }, kTimeoutMs));
        const TradeoffOutcome& o = *view->outcome();

        // The checkpoint itself was swept (2 KV heads -> 1, 2), on the prompt, by both methods.
        QVERIFY(o.model);
        QCOMPARE(o.result.config.n_kv_heads, int64_t{2});
        QCOMPARE(o.result.shape.prompt_len, static_cast<int64_t>(n_tokens));
        QCOMPARE(view->plottedKvHeads(), (QVector<int64_t>{1, 2}));
        QVERIFY(o.other_method);
        QVERIFY(o.other_method->method != o.result.method);

        // The plot opens on perplexity, one point per grouping, for each method.
        QCOMPARE(view->yAxis(), TradeoffView::YAxis::Perplexity);
        const QVector<double> y = view->plottedY();
        QCOMPARE(y.size(), 2);
        QCOMPARE(y[0], o.result.points[0].prompt_perplexity);
        QCOMPARE(y[1], o.result.points[1].prompt_perplexity);
        QVERIFY(std::isfinite(y[0]) && std::isfinite(y[1]) && y[0] > 1.0 && y[1] > 1.0);
        QVERIFY(y[0] != y[1]);  // one KV head changes the perplexity
        QCOMPARE(view->plottedOtherY().size(), 2);
        QCOMPARE(o.result.points[1].next_token_kl, 0.0);
        QVERIFY(o.result.points[0].next_token_kl > 0.0);
        // The checkpoint's point at the reference's perplexity (bf16 KV cache here: 1 %).
        const double ref_ppl =
            ref.value(QStringLiteral("f32")).toObject().value(QStringLiteral("perplexity")).toDouble();
        QVERIFY2(std::abs(y[1] - ref_ppl) <= 0.01 * ref_ppl,
                 qPrintable(QStringLiteral("%1 vs %2").arg(y[1]).arg(ref_ppl)));
        QVERIFY(view->summaryText().contains(QStringLiteral("perplexity")));

        // KL on the y axis.
        view->setYAxis(TradeoffView::YAxis::NextTokenKl);
        QCOMPARE(view->plottedY()[1], 0.0);
        QVERIFY(view->plottedY()[0] > 0.0);

        // Select 1 KV head, save, and read the directory back.
        QVERIFY(w.controlPanel()->setKvHeads(1));
        QVERIFY(QTest::qWaitFor([&] { return view->highlightedKvHeads() == 1; }, kTimeoutMs));
        QVERIFY(view->saveButton()->isEnabled());
        QTemporaryDir tmp;
        const QString out = tmp.filePath(QStringLiteral("tiny-kv1"));
        QSignalSpy saved(w.controller(), &EngineController::convertedModelSaved);
        view->saveConvertedTo(out);
        QVERIFY(QTest::qWaitFor([&] { return saved.count() > 0; }, kTimeoutMs));
        QCOMPARE(saved.last().at(2).toLongLong(), qint64{1});
        QVERIFY(view->summaryText().contains(QStringLiteral("Saved")));
        auto back = loadModel(out.toStdString());
        QVERIFY2(back, back ? "" : back.error().message.c_str());
        QCOMPARE(back->config.n_kv_heads, int64_t{1});
        QCOMPARE(back->config.n_q_heads, w.model()->config.n_q_heads);
        QVERIFY(back->tokenizer != nullptr);

        // A failure says so: a directory that cannot be created.
        QSignalSpy failed(w.controller(), &EngineController::convertedModelSaveFailed);
        view->saveConvertedTo(QStringLiteral("/proc/gqa-lab-cannot-write-here"));
        QVERIFY(QTest::qWaitFor([&] { return failed.count() > 0; }, kTimeoutMs));
        QVERIFY(view->summaryText().contains(QStringLiteral("Could not save")));
#endif
    }

    // Generate with seeded sampling: the same seed gives the same tokens, and the next-token top-k is there
    // after the prompt and after every decode step.
    void sampledGenerate() {
#ifndef GQA_TESTDATA_DIR
        QSKIP("no shared test data (GQA_TESTDATA_DIR)");
#else
        QStandardPaths::setTestModeEnabled(true);
        MainWindow w(testOptions());
        w.openModel(QStringLiteral(GQA_TESTDATA_DIR "/models/tiny-llama-gqa/hf"));
        QVERIFY(QTest::qWaitFor([&] { return w.model() != nullptr || !w.isLoadingModel(); }, kTimeoutMs));
        QVERIFY(w.model());
        PromptPanel* pp = w.promptPanel();
        pp->temperatureSpin()->setValue(1.0);
        pp->topKSpin()->setValue(40);
        pp->topPSpin()->setValue(0.95);
        pp->seedSpin()->setValue(7);
        QVERIFY(pp->topKSpin()->isEnabled());
        const int n = 6;
        pp->generateSpin()->setValue(n);
        auto generate = [&]() -> std::vector<int32_t> {
            const quint64 before = w.requestedRunId();
            pp->generateButton()->click();
            if (!QTest::qWaitFor(
                    [&] {
                        return w.requestedRunId() > before && w.result() && w.shownRunId() == w.requestedRunId() &&
                               w.result()->decode_steps_run > 0;
                    },
                    kTimeoutMs))
                return {};
            return w.result()->generated.front();
        };
        const std::vector<int32_t> a = generate();
        QVERIFY(!a.empty());
        const RunResult& r = *w.result();
        QCOMPARE(static_cast<int64_t>(r.step_top.size()), r.decode_steps_run + 1);
        for (const auto& top : r.step_top) {
            QCOMPARE(top.size(), size_t{10});
            for (size_t i = 1; i < top.size(); ++i) QVERIFY(top[i - 1].second >= top[i].second);
        }
        QCOMPARE(pp->shownStep(), static_cast<int>(r.decode_steps_run));
        pp->showStep(0);
        QCOMPARE(pp->topKTable()->item(0, 1)->text(), QString::number(r.step_top[0][0].first));
        // Greedy would pick the top-1 after the prompt; the generated text says it was sampled.
        QVERIFY(pp->generatedLabel()->text().contains(QStringLiteral("seed 7")));
#endif
    }
};

QTEST_MAIN(TestTradeoffRealWindow)
#include "tst_tradeoff_real_window.moc"
