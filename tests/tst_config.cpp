// Every validation error, with the message a user reads.
#include <QtTest>

#include "gqa/backend.h"
#include "gqa/presets.h"

using namespace gqa;

class TestConfig : public QObject {
    Q_OBJECT
private slots:
    void validationErrors_data() {
        QTest::addColumn<QString>("field");
        QTest::addColumn<qint64>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("kv not dividing q")
            << "n_kv_heads" << 3ll << "n_q_heads (8) is not a multiple of n_kv_heads (3)";
        QTest::newRow("kv above q") << "n_kv_heads" << 16ll << "n_kv_heads (16) cannot exceed n_q_heads (8)";
        QTest::newRow("kv zero") << "n_kv_heads" << 0ll << "n_kv_heads must be positive (got 0)";
        QTest::newRow("q negative") << "n_q_heads" << -8ll << "n_q_heads must be positive (got -8)";
        QTest::newRow("odd head_dim") << "head_dim" << 33ll << "head_dim (33) must be even";
        QTest::newRow("zero layers") << "n_layers" << 0ll << "n_layers must be positive (got 0)";
        QTest::newRow("zero d_model") << "d_model" << 0ll << "d_model must be positive (got 0)";
        QTest::newRow("zero ffn") << "ffn_dim" << 0ll << "ffn_dim must be positive (got 0)";
        QTest::newRow("zero vocab") << "vocab_size" << 0ll << "vocab_size must be positive (got 0)";
        QTest::newRow("zero max_seq") << "max_seq" << 0ll << "max_seq must be positive (got 0)";
        QTest::newRow("huge d_model") << "d_model" << (1ll << 40) << "d_model (1099511627776) is too large";
        QTest::newRow("overflowing sizes") << "max_seq" << (1ll << 31) << "overflow 64 bits";
    }
    void validationErrors() {
        QFETCH(QString, field);
        QFETCH(qint64, value);
        QFETCH(QString, message);
        ModelConfig c = *findPreset("teaching");
        c.n_layers = 1000;
        c.vocab_size = 1 << 20;
        c.d_model = 1 << 16;
        c.n_q_heads = 8;
        c.head_dim = 1 << 13;
        if (field == "n_kv_heads") c.n_kv_heads = value;
        if (field == "n_q_heads") c.n_q_heads = value;
        if (field == "head_dim") c.head_dim = value;
        if (field == "n_layers") c.n_layers = value;
        if (field == "d_model") c.d_model = value;
        if (field == "ffn_dim") c.ffn_dim = value;
        if (field == "vocab_size") c.vocab_size = value;
        if (field == "max_seq") c.max_seq = value;
        const Status s = c.validate();
        QVERIFY(!s.isOk());
        QCOMPARE(s.code(), ErrorCode::InvalidArgument);
        QVERIFY2(QString::fromStdString(s.message()).contains(message), s.message().c_str());
    }

    void floatFieldErrors() {
        ModelConfig c = *findPreset("teaching");
        c.rope_theta = 0.5;
        QVERIFY(QString::fromStdString(c.validate().message()).contains("rope_theta"));
        c = *findPreset("teaching");
        c.norm_eps = 0;
        QVERIFY(QString::fromStdString(c.validate().message()).contains("norm_eps"));
    }

    void runShapeErrors() {
        const ModelConfig c = *findPreset("teaching");
        QVERIFY(QString::fromStdString((RunShape{0, 10, 1}).validate(c).message()).contains("batch"));
        QVERIFY(QString::fromStdString((RunShape{1, 0, 1}).validate(c).message()).contains("sequence length"));
        QVERIFY(QString::fromStdString((RunShape{1, 10, -1}).validate(c).message()).contains("decode"));
        QVERIFY(QString::fromStdString((RunShape{1, 1020, 10}).validate(c).message()).contains("max_seq (1024)"));
        QVERIFY((RunShape{1, 1000, 24}).validate(c).isOk());
    }

    void groupingNames() {
        ModelConfig c = *findPreset("deepseek-llm-67b");
        QCOMPARE(QString::fromStdString(c.attentionKind()), QString("GQA (g = 8)"));
        QCOMPARE(c.groupSize(), int64_t(8));
        c.n_kv_heads = 64;
        QCOMPARE(QString::fromStdString(c.attentionKind()), QString("MHA"));
        c.n_kv_heads = 1;
        QCOMPARE(QString::fromStdString(c.attentionKind()), QString("MQA"));
        QCOMPARE(c.validKvHeadCounts(), (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64}));
        ModelConfig s = *findPreset("smollm2-135m");
        QCOMPARE(s.validKvHeadCounts(), (std::vector<int64_t>{1, 3, 9}));
    }

    void overridesAndDtypes() {
        ConfigOverrides o;
        o.n_kv_heads = 64;
        o.weight_dtype = DType::F16;
        const ModelConfig base = *findPreset("deepseek-llm-67b");
        auto c = applyOverrides(base, o);
        QCOMPARE(c.n_kv_heads, int64_t(64));
        // weight_dtype sets the matrices and the embedding/LM head; norms and the KV cache keep theirs.
        QCOMPARE(c.weight_dtype, DType::F16);
        QCOMPARE(c.embed_dtype, DType::F16);
        QCOMPARE(c.norm_dtype, base.norm_dtype);
        QCOMPARE(c.kv_dtype, base.kv_dtype);
        QVERIFY(QString::fromStdString(c.name).contains("modified"));
        ConfigOverrides kv;
        kv.kv_dtype = DType::F32;
        auto k = applyOverrides(base, kv);
        QCOMPARE(k.kv_dtype, DType::F32);
        QCOMPARE(k.weight_dtype, base.weight_dtype);
        QCOMPARE(k.embed_dtype, base.embed_dtype);
        QVERIFY(QString::fromStdString(k.name).contains("modified"));
        // No override: nothing changes, not even the name.
        QCOMPARE(QString::fromStdString(applyOverrides(base, {}).name), QString::fromStdString(base.name));
        QCOMPARE(parseDType("bfloat16"), std::optional<DType>(DType::BF16));
        QCOMPARE(parseDType("half"), std::optional<DType>(DType::F16));
        QCOMPARE(parseDType("q8_0"), std::optional<DType>(DType::Q8_0));
        QVERIFY(!parseDType("int8").has_value());
        // Q8_0: blocks of 32 values in 34 bytes (an fp16 scale and 32 int8).
        QCOMPARE(storageBytes(DType::Q8_0, 64), int64_t(68));
        QCOMPARE(storageBytes(DType::BF16, 64), int64_t(128));
        QCOMPARE(storageBytes(DType::F32, 64), int64_t(256));
    }

    void dtypeRoundTrips() {
        // Round to nearest even, exact on representable values.
        QCOMPARE(f16ToFloat(floatToF16(1.0f)), 1.0f);
        QCOMPARE(f16ToFloat(floatToF16(65504.0f)), 65504.0f);
        QVERIFY(std::isinf(f16ToFloat(floatToF16(70000.0f))));
        QCOMPARE(f16ToFloat(floatToF16(5.960464477539063e-08f)), 5.960464477539063e-08f);  // smallest subnormal
        QCOMPARE(f16ToFloat(floatToF16(1.0f + 1.0f / 2048)), 1.0f);                        // tie -> even
        QCOMPARE(f16ToFloat(floatToF16(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);          // tie -> even (up)
        QCOMPARE(bf16ToFloat(floatToBf16(1.0f + 1.0f / 256)), 1.0f);                       // tie -> even
        QCOMPARE(bf16ToFloat(floatToBf16(3.140625f)), 3.140625f);
        QVERIFY(std::isnan(bf16ToFloat(floatToBf16(NAN))));
    }

    void backendNamesAndMissingGpu() {
        auto bad = createBackend("tpu");
        QVERIFY(!bad.isOk());
        QCOMPARE(bad.error().code, ErrorCode::InvalidArgument);
        const auto all = probeBackends();
        QCOMPARE(all.size(), size_t(2));
        QVERIFY(all[0].available);
        if (!all[1].available) {
            auto cuda = createBackend("cuda");
            QVERIFY(!cuda.isOk());
            QCOMPARE(cuda.error().code, ErrorCode::Unavailable);
            QVERIFY(!all[1].reason.empty());
            QVERIFY(createBackend("auto").isOk());  // falls back to the CPU
        }
    }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "tst_config.moc"
