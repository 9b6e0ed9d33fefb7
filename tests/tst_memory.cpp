// The memory model against hand-computed numbers, published configs and measured allocations.
#include <QtTest>

#include <algorithm>
#include <limits>

#include "gqa/backend.h"
#include "gqa/memory_model.h"
#include "gqa/presets.h"
#include "gqa/weights.h"

using namespace gqa;

class TestMemory : public QObject {
    Q_OBJECT
private slots:
    // Published shapes (config.json of each model).
    void presetsMatchPublishedConfigs_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<qint64>("layers");
        QTest::addColumn<qint64>("d");
        QTest::addColumn<qint64>("hq");
        QTest::addColumn<qint64>("hkv");
        QTest::addColumn<qint64>("hd");
        QTest::addColumn<qint64>("ffn");
        QTest::addColumn<qint64>("vocab");
        QTest::newRow("deepseek-llm-67b")
            << "deepseek-llm-67b" << 95ll << 8192ll << 64ll << 8ll << 128ll << 22016ll << 102400ll;
        QTest::newRow("deepseek-llm-7b") << "deepseek-llm-7b" << 30ll << 4096ll << 32ll << 32ll << 128ll << 11008ll
                                         << 102400ll;
        QTest::newRow("llama-2-7b") << "llama-2-7b" << 32ll << 4096ll << 32ll << 32ll << 128ll << 11008ll << 32000ll;
        QTest::newRow("llama-2-70b") << "llama-2-70b" << 80ll << 8192ll << 64ll << 8ll << 128ll << 28672ll << 32000ll;
        QTest::newRow("llama-3-8b") << "llama-3-8b" << 32ll << 4096ll << 32ll << 8ll << 128ll << 14336ll << 128256ll;
        QTest::newRow("llama-3-70b") << "llama-3-70b" << 80ll << 8192ll << 64ll << 8ll << 128ll << 28672ll << 128256ll;
        QTest::newRow("mistral-7b") << "mistral-7b" << 32ll << 4096ll << 32ll << 8ll << 128ll << 14336ll << 32000ll;
        QTest::newRow("qwen2.5-7b") << "qwen2.5-7b" << 28ll << 3584ll << 28ll << 4ll << 128ll << 18944ll << 152064ll;
        QTest::newRow("smollm2-135m") << "smollm2-135m" << 30ll << 576ll << 9ll << 3ll << 64ll << 1536ll << 49152ll;
        QTest::newRow("tinyllama-1.1b") << "tinyllama-1.1b" << 22ll << 2048ll << 32ll << 4ll << 64ll << 5632ll
                                        << 32000ll;
    }
    void presetsMatchPublishedConfigs() {
        QFETCH(QString, name);
        QFETCH(qint64, layers);
        QFETCH(qint64, d);
        QFETCH(qint64, hq);
        QFETCH(qint64, hkv);
        QFETCH(qint64, hd);
        QFETCH(qint64, ffn);
        QFETCH(qint64, vocab);
        auto c = findPreset(name.toStdString());
        QVERIFY(c.isOk());
        QCOMPARE(c->n_layers, layers);
        QCOMPARE(c->d_model, d);
        QCOMPARE(c->n_q_heads, hq);
        QCOMPARE(c->n_kv_heads, hkv);
        QCOMPARE(c->head_dim, hd);
        QCOMPARE(c->ffn_dim, ffn);
        QCOMPARE(c->vocab_size, vocab);
        QVERIFY(c->validate().isOk());
        QVERIFY(!c->source.empty());
    }

    void everyPresetValidatesAndTeachingIsDefault() {
        QCOMPARE(std::string(kDefaultPreset), std::string("teaching"));
        for (const auto& n : presetNames()) QVERIFY2(findPreset(n)->validate().isOk(), n.c_str());
        auto t = findPreset("teaching");
        QVERIFY(t->n_q_heads >= 8 && t->n_kv_heads >= 2 && t->n_kv_heads < t->n_q_heads);
        QVERIFY(!findPreset("gpt-5").isOk());
    }

    // Hand-computed: DeepSeek LLM 67B in bf16 keeps 2*95*8*128*2 = 389,120 KV bytes per token.
    void kvCacheHandComputed() {
        auto c = findPreset("deepseek-llm-67b");
        const auto m = estimateMemory(*c, 1, 4096);
        QCOMPARE(m.kv_bytes_per_token, int64_t(389120));
        QCOMPARE(m.kv_cache_bytes, int64_t(389120) * 4096);
        // 128k tokens, batch 4: 2*95*4*131072*8*128*2 bytes.
        QCOMPARE(estimateMemory(*c, 4, 131072).kv_cache_bytes, int64_t(2) * 95 * 4 * 131072 * 8 * 128 * 2);
        // The same model as MHA needs g = 8 times more; as MQA 8 times less.
        ModelConfig mha = *c, mqa = *c;
        mha.n_kv_heads = 64;
        mqa.n_kv_heads = 1;
        QCOMPARE(estimateMemory(mha, 1, 4096).kv_cache_bytes, 8 * m.kv_cache_bytes);
        QCOMPARE(estimateMemory(mqa, 1, 4096).kv_cache_bytes * 8, m.kv_cache_bytes);
        // Llama-2-7B (MHA) fp16: 2*32*32*128*2 = 524,288 bytes per token (0.5 MiB).
        auto l2 = findPreset("llama-2-7b");
        l2->kv_dtype = DType::F16;
        QCOMPARE(estimateMemory(*l2, 1, 1).kv_bytes_per_token, int64_t(524288));
    }

    // Parameter counts land on the published model sizes.
    void parameterCounts() {
        auto p = [](const char* n) { return double(estimateMemory(*findPreset(n), 1, 1).param_count) * 1e-9; };
        QVERIFY(std::fabs(p("deepseek-llm-67b") - 67.4) < 0.2);
        QVERIFY(std::fabs(p("deepseek-llm-7b") - 6.91) < 0.05);
        QVERIFY(std::fabs(p("llama-2-7b") - 6.74) < 0.02);
        QVERIFY(std::fabs(p("llama-2-70b") - 68.98) < 0.05);
        QVERIFY(std::fabs(p("llama-3-8b") - 8.03) < 0.02);
        QVERIFY(std::fabs(p("mistral-7b") - 7.24) < 0.02);
        QVERIFY(std::fabs(p("qwen2.5-7b") - 7.6) < 0.05);  // Qwen's QKV biases (~0.5M) are not modelled
        QVERIFY(std::fabs(p("smollm2-135m") - 0.1348) < 0.001);
        QVERIFY(std::fabs(p("tinyllama-1.1b") - 1.10) < 0.01);
    }

    // Weights as stored, from the config by hand: Llama-3-8B has per layer d (Hq D + 2 Hkv D) + Hq D d + 3 d F
    // = 4096 * (4096 + 2048) + 4096 * 4096 + 3 * 4096 * 14336 = 218,103,808 matrix values, a 128256 x 4096
    // embedding and LM head (untied), 2 * 4096 norm gains per layer and a final norm of 4096.
    void weightBytesHandComputed() {
        ModelConfig c = *findPreset("llama-3-8b");
        const int64_t matrices = 32ll * 218103808, tables = 2ll * 128256 * 4096, norms = 32ll * 2 * 4096 + 4096;
        auto e = estimateMemory(c, 1, 1);
        QCOMPARE(e.param_count, matrices + tables + norms);
        // bf16 matrices and tables, fp32 norms.
        QCOMPARE(e.weight_bytes, 2 * matrices + 2 * tables + 4 * norms);
        // Q8_0 matrices (34 bytes per 32 values); the embedding and LM head stay in embed_dtype.
        c.weight_dtype = DType::Q8_0;
        QCOMPARE(estimateMemory(c, 1, 1).weight_bytes, matrices / 32 * 34 + 2 * tables + 4 * norms);
        c.embed_dtype = DType::F32;
        c.norm_dtype = DType::BF16;
        QCOMPARE(estimateMemory(c, 1, 1).weight_bytes, matrices / 32 * 34 + 4 * tables + 2 * norms);
        // Tied embeddings store one table: SmolLM2-135M, 30 layers of 576 (576 + 2 * 192) + 576 * 576 +
        // 3 * 576 * 1536 = 3,538,944 values, one 49152 x 576 table.
        const ModelConfig s = *findPreset("smollm2-135m");
        QVERIFY(s.tied_embeddings);
        const int64_t s_matrices = 30ll * 3538944, s_table = 49152ll * 576, s_norms = 30ll * 2 * 576 + 576;
        QCOMPARE(estimateMemory(s, 1, 1).weight_bytes, 2 * s_matrices + 2 * s_table + 4 * s_norms);
    }

    // What a run allocates equals the model: KV cache exactly, activations and weights too.
    void allocationsMatchTheModel_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("hkv");
        for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0})
            for (int hkv : {8, 2, 1}) QTest::addRow("%s kv%d", dtypeName(t), hkv) << int(t) << hkv;
    }
    void allocationsMatchTheModel() {
        QFETCH(int, dtype);
        QFETCH(int, hkv);
        const auto t = static_cast<DType>(dtype);
        ModelConfig c = *findPreset("teaching");
        c.n_kv_heads = hkv;
        c.weight_dtype = c.embed_dtype = t;
        c.kv_dtype = t == DType::Q8_0 ? DType::BF16 : t;  // the KV cache is never Q8_0
        auto w = makeSyntheticModel(c, 1, WeightsMode::Random);
        QVERIFY2(w.isOk(), w.isOk() ? "" : w.error().message.c_str());
        auto cpu = createCpuBackend();
        const int64_t B = 3, seq = 200;
        auto m = cpu->createModel(*w, B, seq);
        QVERIFY(m.isOk());
        const auto a = (*m)->allocation();
        const auto e = estimateMemory(c, B, seq);
        const int64_t kv_elem = c.kv_dtype == DType::F32 ? 4 : 2;
        QCOMPARE(a.kv_cache_bytes, int64_t(2) * c.n_layers * B * seq * hkv * c.head_dim * kv_elem);
        QCOMPARE(a.kv_cache_bytes, e.kv_cache_bytes);

        // Teaching: 4 layers, d 256, 8 query heads of 32, F 768, vocab 4096, untied.
        const int64_t d = 256, q = 8 * 32, kv = hkv * 32, F = 768, V = 4096, L = 4;
        QCOMPARE(c.d_model, d);
        QCOMPARE(c.n_layers, L);
        QCOMPARE(c.ffn_dim, F);
        QCOMPARE(c.vocab_size, V);
        QVERIFY(!c.tied_embeddings);
        // fp32 prefill buffers per token (x, xn, qkv, attention output, gate|up), the logits of the last position
        // of every sequence, and one 128-row tile of the widest GEMM input per worker thread plus one (the packed
        // activations of the AMX path).
        const int64_t per_token = 2 * d + (q + 2 * kv) + q + 2 * F;
        const int64_t activations =
            4 * (B * seq * per_token + B * V) + 4 * 128 * std::max({d, q, F}) * (cpuWorkerThreads() + 1);
        QCOMPARE(e.activation_bytes, activations);
        QCOMPARE(a.activation_bytes, activations);

        // Weights as stored: matrices and tables in the dtype, fp32 norms; nothing else held.
        auto stored = [t](int64_t n) { return t == DType::Q8_0 ? n / 32 * 34 : n * (t == DType::F32 ? 4 : 2); };
        const int64_t matrices = d * (q + 2 * kv) + q * d + 3 * d * F;
        const int64_t weights = L * (stored(matrices) + 4 * 2 * d) + stored(2 * V * d) + 4 * d;
        QCOMPARE(e.weight_bytes, weights);
        QCOMPARE(a.weight_bytes, weights);
        QCOMPARE(w->tensorBytes(), weights);
        QCOMPARE(a.total(), e.total_bytes);
    }

    void fitPrediction() {
        auto c = *findPreset("deepseek-llm-67b");
        const int64_t ram = 24ll << 30;
        auto f = predictFit(c, 1, 4096, ram);
        QVERIFY(!f.fits);
        QVERIFY(f.max_layers_that_fit > 0 && f.max_layers_that_fit < 95);
        QVERIFY(f.message.find("GiB") != std::string::npos);
        auto t = *findPreset("teaching");
        QVERIFY(predictFit(t, 1, 1024, ram).fits);
        const int64_t ctx = maxContextThatFits(t, 1, 64ll << 20);
        QVERIFY(ctx > 0);
        QVERIFY(predictFit(t, 1, ctx, 64ll << 20).fits);
        QVERIFY(!predictFit(t, 1, ctx + 1, 64ll << 20).fits);
        const int64_t batch = maxBatchThatFits(t, 256, 64ll << 20);
        QVERIFY(predictFit(t, batch, 256, 64ll << 20).fits);
        QVERIFY(!predictFit(t, batch + 1, 256, 64ll << 20).fits);
        // The headroom is the share of the memory that may be used: at 1.0 the need itself just fits, a byte less
        // does not; at 0.5 twice the need just fits.
        const int64_t need = estimateMemory(t, 1, ctx).total_bytes;
        QVERIFY(predictFit(t, 1, ctx, need, 1.0).fits);
        QVERIFY(!predictFit(t, 1, ctx, need - 1, 1.0).fits);
        QCOMPARE(predictFit(t, 1, ctx, need, 1.0).needed_bytes, need);
        QVERIFY(predictFit(t, 1, ctx, 2 * need, 0.5).fits);
        QVERIFY(!predictFit(t, 1, ctx, 2 * need - 4, 0.5).fits);
    }

    // A context or batch too large to count in bytes (typeable: --seq 9223372036854775807) saturates instead of
    // wrapping to a small or negative size that would "fit".
    void hugeRequestsSaturate() {
        const int64_t top = std::numeric_limits<int64_t>::max();
        for (const char* name : {"teaching", "mistral-7b"}) {  // mistral-7b: a rolling cache of its window
            const auto c = *findPreset(name);
            for (const auto& [batch, seq] : {std::pair<int64_t, int64_t>{1, top}, {top, 1024}, {top, top}}) {
                const MemoryEstimate m = estimateMemory(c, batch, seq);
                QVERIFY(m.kv_cache_bytes > 0 && m.activation_bytes > 0);
                QCOMPARE(m.total_bytes, top);
                QVERIFY(!predictFit(c, batch, seq, int64_t{1} << 50).fits);
            }
        }
        // With a window the cache stops growing at w: only the activations saturate.
        const auto mistral = *findPreset("mistral-7b");
        QCOMPARE(estimateMemory(mistral, 1, top).kv_cache_bytes, estimateMemory(mistral, 1, 4096).kv_cache_bytes);
    }
};

QTEST_GUILESS_MAIN(TestMemory)
#include "tst_memory.moc"
