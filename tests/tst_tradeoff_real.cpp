// The trade-off sweep on the shared real checkpoint (../shared/testdata/models/tiny-llama-gqa/hf): its
// language-model quality numbers against the outside reference in reference/expected.json (llama.cpp, F32
// KV cache). The base point is the checkpoint itself, so its prompt perplexity must be the reference's and
// its KL against itself 0; merging the 2 KV heads into 1 must move the next-token distributions.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <cmath>

#include "gqa/backend.h"
#include "gqa/model.h"
#include "gqa/tradeoff.h"

using namespace gqa;

namespace {

#ifdef GQA_TESTDATA_DIR
const QString kModelDir = QStringLiteral(GQA_TESTDATA_DIR "/models/tiny-llama-gqa");
#else
const QString kModelDir;
#endif

struct Reference {
    std::vector<int32_t> tokens;
    double perplexity = 0.0;
};

// The first prompt of expected.json: its token ids and the f32 perplexity llama.cpp measured.
Reference firstPrompt() {
    QFile f(kModelDir + "/reference/expected.json");
    if (!f.open(QIODevice::ReadOnly)) return {};
    const QJsonObject p = QJsonDocument::fromJson(f.readAll()).object()["prompts"].toArray().first().toObject();
    Reference r;
    for (const auto& t : p["tokens"].toArray()) r.tokens.push_back(static_cast<int32_t>(t.toInteger()));
    r.perplexity = p["f32"].toObject()["perplexity"].toDouble();
    return r;
}

}  // namespace

class TestTradeoffReal : public QObject {
    Q_OBJECT
private slots:
    void sweepOfTheCheckpoint_data() {
        QTest::addColumn<int>("method");
        QTest::newRow("meanpool") << static_cast<int>(ConvertMethod::MeanPool);
        QTest::newRow("first") << static_cast<int>(ConvertMethod::First);
    }

    void sweepOfTheCheckpoint() {
        if (kModelDir.isEmpty() || !QFile::exists(kModelDir + "/hf/config.json"))
            QSKIP("no shared test data (GQA_TESTDATA_DIR/models/tiny-llama-gqa)");
        QFETCH(int, method);
        const Reference ref = firstPrompt();
        QVERIFY(ref.tokens.size() >= 2 && ref.perplexity > 0.0);

        auto model = loadModel((kModelDir + "/hf").toStdString());
        QVERIFY2(model, model ? "" : model.error().message.c_str());
        model->config.kv_dtype = DType::F32;  // the reference's cache (llama.cpp, F32 KV)
        QCOMPARE(model->config.n_kv_heads, int64_t{2});

        TradeoffRequest req;
        req.config = model->config;
        req.shape.batch = 1;
        req.shape.prompt_len = static_cast<int64_t>(ref.tokens.size());
        req.shape.decode_steps = 2;
        req.prompt_tokens = ref.tokens;
        req.method = static_cast<ConvertMethod>(method);
        req.attention_iterations = 2;
        auto backend = createCpuBackend();
        auto res = runTradeoff(*backend, *model, req);
        QVERIFY2(res, res ? "" : res.error().message.c_str());

        // One point per divisor of the checkpoint's 2 KV heads, ascending: 1, then the base 2.
        QCOMPARE(res->points.size(), size_t{2});
        const TradeoffPoint& mqa = res->points[0];
        const TradeoffPoint& base = res->points[1];
        QCOMPARE(mqa.kv_heads, int64_t{1});
        QCOMPARE(base.kv_heads, int64_t{2});

        QVERIFY2(
            std::fabs(base.prompt_perplexity - ref.perplexity) <= 1e-3 * ref.perplexity,
            qPrintable(
                QStringLiteral("base perplexity %1, reference %2").arg(base.prompt_perplexity).arg(ref.perplexity)));
        QCOMPARE(base.next_token_kl, 0.0);

        QVERIFY2(mqa.next_token_kl > 0.0, qPrintable(QStringLiteral("KL at 1 KV head: %1").arg(mqa.next_token_kl)));
        QVERIFY(std::isfinite(mqa.next_token_kl));
        QVERIFY(std::isfinite(mqa.prompt_perplexity) && mqa.prompt_perplexity > 0.0);
        QVERIFY(mqa.prompt_perplexity != base.prompt_perplexity);
        // Efficiency: half the KV heads, half the KV-cache bytes.
        QCOMPARE(mqa.kv_cache_bytes * 2, base.kv_cache_bytes);
        QVERIFY(base.decode_attention_ms > 0.0 && mqa.decode_attention_ms > 0.0);
    }

    // keep_maps hands back the prompt maps the quality pass computed: every layer, every query head.
    void keepsTheMaps() {
        if (kModelDir.isEmpty() || !QFile::exists(kModelDir + "/hf/config.json"))
            QSKIP("no shared test data (GQA_TESTDATA_DIR/models/tiny-llama-gqa)");
        const Reference ref = firstPrompt();
        auto model = loadModel((kModelDir + "/hf").toStdString());
        QVERIFY(model);
        TradeoffRequest req;
        req.config = model->config;
        req.shape.batch = 1;
        req.shape.prompt_len = static_cast<int64_t>(ref.tokens.size());
        req.shape.decode_steps = 1;
        req.prompt_tokens = ref.tokens;
        req.attention_iterations = 1;
        req.keep_maps = true;
        auto backend = createCpuBackend();
        auto res = runTradeoff(*backend, *model, req);
        QVERIFY(res);
        for (const TradeoffPoint& p : res->points) {
            QCOMPARE(static_cast<int64_t>(p.maps.size()), model->config.n_layers);
            QCOMPARE(static_cast<int64_t>(p.maps[0].heads.size()), model->config.n_q_heads);
            QCOMPARE(p.maps[0].q_len, req.shape.prompt_len);
            // A row of a causal softmax sums to 1.
            double row = 0.0;
            for (int64_t j = 0; j < p.maps[0].kv_len; ++j) row += p.maps[0].at(0, 0, 5, j);
            QVERIFY(std::fabs(row - 1.0) < 1e-4);
        }
    }
};

QTEST_GUILESS_MAIN(TestTradeoffReal)
#include "tst_tradeoff_real.moc"
