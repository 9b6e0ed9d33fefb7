// Session JSON: a full round trip, and every kind of corrupt file refused with a reason.
#include <QtTest>

#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>

#include "gqa/presets.h"
#include "session.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

Session sampleSession() {
    Session s;
    s.preset = QStringLiteral("deepseek-llm-67b");
    s.config = findPreset("deepseek-llm-67b").value();
    s.config.n_kv_heads = 64;  // the same model as MHA
    s.config.weight_dtype = DType::Q8_0;
    s.config.embed_dtype = DType::F16;
    s.config.norm_dtype = DType::BF16;
    s.config.kv_dtype = DType::F16;
    s.config.eos_token_ids = {2, 7};
    s.shape = {3, 100, 7};
    s.backend = QStringLiteral("cpu");
    s.run_layers = 2;
    s.view = {3, 1, 1, 5, true, true, 4};
    Snapshot p;
    p.label = QStringLiteral("deepseek-llm-67b · GQA (g = 8)");
    p.config = findPreset("deepseek-llm-67b").value();
    p.shape = {1, 64, 16};
    p.backend = QStringLiteral("cpu");
    p.device = QStringLiteral("Test CPU, 2 threads");
    p.layers_run = 1;
    p.memory = estimateMemory(p.config, 1, 80);
    p.allocated = {123456789, 2345678, 345678};
    p.max_context_tokens = 4096;
    p.max_batch = 17;
    p.curve_seq = {1, 2048, 4096};
    p.curve_kv = {1e5, 2e8, 4e8};
    for (int k = 0; k < kNumOps; ++k) {
        p.prefill_measured_ms[k] = 1.5 * (k + 1);
        p.prefill_pred_ms[k] = 0.5 * (k + 1);
        p.decode_measured_ms[k] = 0.25 * (k + 2);
        p.decode_pred_ms[k] = 0.125 * (k + 3);
    }
    p.prefill_layer_ms = {12.5};
    p.decode_layer_ms = {3.25};
    p.prefill_ms = 12.75;
    p.decode_ms = 3.5;
    p.prefill_tokens_per_s = 5019.6;
    p.decode_tokens_per_s = 4571.4;
    p.attention_score_flops = 1.25e9;
    s.pinned = p;
    return s;
}

QByteArray withField(const QString& path, const QJsonValue& v) {
    QJsonObject o = QJsonDocument::fromJson(sessionToJson(sampleSession())).object();
    const QStringList parts = path.split(QLatin1Char('.'));
    if (parts.size() == 1) {
        if (v.isUndefined())
            o.remove(parts[0]);
        else
            o[parts[0]] = v;
    } else {
        QJsonObject inner = o[parts[0]].toObject();
        if (v.isUndefined())
            inner.remove(parts[1]);
        else
            inner[parts[1]] = v;
        o[parts[0]] = inner;
    }
    return QJsonDocument(o).toJson();
}

}  // namespace

class TestSession : public QObject {
    Q_OBJECT
private slots:
    void roundTrip() {
        const Session s = sampleSession();
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("s.json"));
        QString error;
        QVERIFY2(saveSessionFile(s, path, &error), qPrintable(error));
        auto back = loadSessionFile(path, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QCOMPARE(back->preset, s.preset);
        QCOMPARE(back->config.n_kv_heads, int64_t{64});
        QCOMPARE(back->config.n_layers, s.config.n_layers);
        QCOMPARE(back->config.d_model, s.config.d_model);
        QCOMPARE(back->config.rope_theta, s.config.rope_theta);
        QCOMPARE(back->config.weight_dtype, DType::Q8_0);
        QCOMPARE(back->config.embed_dtype, DType::F16);
        QCOMPARE(back->config.norm_dtype, DType::BF16);
        QCOMPARE(back->config.kv_dtype, DType::F16);
        QCOMPARE(back->config.bos_token_id, s.config.bos_token_id);
        QCOMPARE(back->config.eos_token_ids, (std::vector<int32_t>{2, 7}));
        QCOMPARE(back->shape.batch, int64_t{3});
        QCOMPARE(back->shape.prompt_len, int64_t{100});
        QCOMPARE(back->shape.decode_steps, int64_t{7});
        QCOMPARE(back->run_layers, int64_t{2});
        QCOMPARE(back->view.tab, 3);
        QCOMPARE(back->view.head, 5);
        QVERIFY(back->view.log_scale && back->view.decode_phase);
        QCOMPARE(back->view.decode_step, 4);
        QVERIFY(back->pinned.has_value());
        const Snapshot& p = *back->pinned;
        QCOMPARE(p.label, s.pinned->label);
        QCOMPARE(p.config.n_kv_heads, int64_t{8});
        QCOMPARE(p.memory.kv_cache_bytes, s.pinned->memory.kv_cache_bytes);
        QCOMPARE(p.allocated.weight_bytes, int64_t{123456789});
        QCOMPARE(p.decode_measured_ms, s.pinned->decode_measured_ms);
        QCOMPARE(p.curve_kv, s.pinned->curve_kv);
        QCOMPARE(p.decode_tokens_per_s, 4571.4);
        // Saving the loaded session again gives the same bytes.
        QCOMPARE(sessionToJson(*back), sessionToJson(s));
    }

    void corruptRefused_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("reason");  // a word the message must contain
        QTest::newRow("binary garbage") << QByteArray("\x89PNG\r\n\x1a\n\x00\x01", 10) << "JSON";
        QTest::newRow("truncated") << sessionToJson(sampleSession()).left(200) << "JSON";
        QTest::newRow("array at top") << QByteArray("[1,2,3]") << "object";
        QTest::newRow("wrong format tag") << withField("format", QStringLiteral("other-app")) << "format";
        QTest::newRow("future version") << withField("version", 99) << "version";
        QTest::newRow("KV heads not a divisor") << withField("config.n_kv_heads", 3) << "multiple";
        QTest::newRow("KV heads > query heads") << withField("config.n_kv_heads", 128) << "exceed";
        QTest::newRow("odd head_dim") << withField("config.head_dim", 127) << "even";
        QTest::newRow("negative layers") << withField("config.n_layers", -4) << "n_layers";
        QTest::newRow("layers as text") << withField("config.n_layers", QStringLiteral("95")) << "n_layers";
        QTest::newRow("fractional heads") << withField("config.n_q_heads", 8.5) << "n_q_heads";
        QTest::newRow("missing config field")
            << withField("config.d_model", QJsonValue(QJsonValue::Undefined)) << "d_model";
        QTest::newRow("unknown weight dtype")
            << withField("config.weight_dtype", QStringLiteral("fp8")) << "weight_dtype";
        QTest::newRow("unknown KV dtype") << withField("config.kv_dtype", QStringLiteral("fp8")) << "kv_dtype";
        QTest::newRow("Q8_0 KV cache") << withField("config.kv_dtype", QStringLiteral("q8_0")) << "KV cache";
        QTest::newRow("missing norm dtype")
            << withField("config.norm_dtype", QJsonValue(QJsonValue::Undefined)) << "norm_dtype";
        QTest::newRow("zero batch") << withField("shape.batch", 0) << "batch";
        QTest::newRow("prompt beyond max_seq") << withField("shape.prompt_len", 5000) << "max_seq";
        QTest::newRow("unknown backend") << withField("backend", QStringLiteral("tpu")) << "backend";
        QTest::newRow("run_layers beyond depth") << withField("run_layers", 1000) << "run_layers";
        QTest::newRow("pinned not an object") << withField("pinned", 42) << "pinned";
        QTest::newRow("pinned missing field") << [] {
            QJsonObject o = QJsonDocument::fromJson(sessionToJson(sampleSession())).object();
            QJsonObject p = o[QStringLiteral("pinned")].toObject();
            p.remove(QStringLiteral("decode_measured_ms"));
            o[QStringLiteral("pinned")] = p;
            return QJsonDocument(o).toJson();
        }() << "decode_measured_ms";
    }
    void corruptRefused() {
        QFETCH(QByteArray, json);
        QFETCH(QString, reason);
        QString error;
        const auto s = sessionFromJson(json, &error);
        QVERIFY(!s.has_value());
        QVERIFY2(error.contains(reason, Qt::CaseInsensitive), qPrintable(error));
    }

    void version1DtypeLoads() {
        // Version 1 stored one "dtype" for weights and KV cache: it loads as that type for both.
        QJsonObject o = QJsonDocument::fromJson(sessionToJson(sampleSession())).object();
        o[QStringLiteral("version")] = 1;
        QJsonObject cfg = o[QStringLiteral("config")].toObject();
        for (const char* key : {"weight_dtype", "embed_dtype", "norm_dtype", "kv_dtype", "architecture", "rope_scaling",
                                "qkv_bias", "sliding_window", "bos_token_id", "eos_token_ids"})
            cfg.remove(QLatin1String(key));
        cfg[QStringLiteral("dtype")] = QStringLiteral("fp16");
        o[QStringLiteral("config")] = cfg;
        QString error;
        const auto s = sessionFromJson(QJsonDocument(o).toJson(), &error);
        QVERIFY2(s.has_value(), qPrintable(error));
        QCOMPARE(s->config.weight_dtype, DType::F16);
        QCOMPARE(s->config.embed_dtype, DType::F16);
        QCOMPARE(s->config.kv_dtype, DType::F16);
        QCOMPARE(s->config.norm_dtype, ModelConfig{}.norm_dtype);
    }

    // Sessions saved before per-layer windows (version 2 without "layer_windows", like the fuzz corpus' seeds)
    // still load, every layer using sliding_window; the remembered last session must not be lost to it.
    void sessionWithoutLayerWindowsLoads() {
        Session base = sampleSession();
        base.config.sliding_window = 16;
        QJsonObject o = QJsonDocument::fromJson(sessionToJson(base)).object();
        QJsonObject cfg = o[QStringLiteral("config")].toObject();
        QVERIFY(cfg.contains(QStringLiteral("layer_windows")));
        cfg.remove(QStringLiteral("layer_windows"));
        o[QStringLiteral("config")] = cfg;
        if (o.contains(QStringLiteral("pinned"))) {
            QJsonObject pinned = o[QStringLiteral("pinned")].toObject();
            QJsonObject pcfg = pinned[QStringLiteral("config")].toObject();
            pcfg.remove(QStringLiteral("layer_windows"));
            pinned[QStringLiteral("config")] = pcfg;
            o[QStringLiteral("pinned")] = pinned;
        }
        QString error;
        const auto s = sessionFromJson(QJsonDocument(o).toJson(), &error);
        QVERIFY2(s.has_value(), qPrintable(error));
        QVERIFY(s->config.layer_windows.empty());
        QCOMPARE(s->config.sliding_window, int64_t{16});
        QCOMPARE(s->config.windowOf(3), int64_t{16});
    }

    void saveIsAtomic() {
        // A directory in the way: the save fails and leaves nothing half-written behind.
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("blocked"));
        QVERIFY(QDir().mkpath(path));
        QString error;
        QVERIFY(!saveSessionFile(sampleSession(), path, &error));
        QVERIFY(!error.isEmpty());
        QVERIFY(QFileInfo(path).isDir());
    }
};

QTEST_MAIN(TestSession)
#include "tst_session.moc"
