// gqa-lab-cli as a user drives it: exit codes, JSON fields, files, refusals.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <fstream>

#include "gqa/npy.h"
#include "gqa/reference.h"
#include "test_util.h"

using namespace gqa;

namespace {
struct Run {
    int code = -1;
    QByteArray out, err;
};
Run cli(const QStringList& args, int timeout_ms = 300000) {
    QProcess p;
    p.start(QStringLiteral(GQA_CLI_PATH), args);
    p.waitForFinished(timeout_ms);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}
}  // namespace

class TestCli : public QObject {
    Q_OBJECT
private slots:
    void helpOnEverySubcommand() {
        for (const char* sub : {"info", "run", "memory", "attention", "verify", "bench", "tokenize", "logits",
                                "perplexity", "convert", "tradeoff"}) {
            auto r = cli({sub, "--help"});
            QCOMPARE(r.code, 0);
            QVERIFY(r.out.contains("Usage") || r.out.contains("usage") || r.out.contains("Options"));
        }
    }

    void info() {
        auto r = cli({"info", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        const auto b = j["backends"].toArray();
        QCOMPARE(b.size(), 2);
        QCOMPARE(b[0].toObject()["name"].toString(), QString("cpu"));
        QVERIFY(b[0].toObject()["available"].toBool());
        if (!b[1].toObject()["available"].toBool()) QVERIFY(!b[1].toObject()["reason"].toString().isEmpty());
    }

    // analyze --decode-steps N: one entry per greedy step, at query position prompt + step, with every head's
    // statistics of that one row (entropy of a distribution over position + 1 keys is at most log2(position + 1)).
    void analyzeDecodeSteps() {
        auto r = cli({"analyze", "--preset", "teaching", "--layers", "0", "--decode-steps", "3", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        const auto steps = j["decode_steps"].toArray();
        QCOMPARE(steps.size(), 3);
        const qint64 prompt = j["prompt_tokens"].toInteger();
        QVERIFY(prompt > 0);
        for (int s = 0; s < 3; ++s) {
            const auto st = steps[s].toObject();
            QCOMPARE(st["step"].toInteger(), qint64(s));
            QCOMPARE(st["position"].toInteger(), prompt + s);
            const auto layers = st["layers"].toArray();
            QCOMPARE(layers.size(), 1);
            QCOMPARE(layers[0].toObject()["layer"].toInteger(), 0ll);
            const auto heads = layers[0].toObject()["heads"].toArray();
            QCOMPARE(heads.size(), 8);  // the teaching preset's query heads
            for (const auto& hv : heads) {
                const auto h = hv.toObject();
                const double e = h["entropy_bits"].toDouble();
                QVERIFY(e >= 0.0 && e <= std::log2(double(prompt + s + 1)) + 1e-9);
                QVERIFY(h["sink_mass"].toDouble() >= 0.0 && h["sink_mass"].toDouble() <= 1.0 + 1e-9);
                QVERIFY(h["mean_distance"].toDouble() >= 0.0);
                QVERIFY(h["mean_distance"].toDouble() <= double(prompt + s) + 1e-9);
            }
        }
        // Without the flag there is no decode_steps entry.
        auto plain = cli({"analyze", "--preset", "teaching", "--layers", "0", "--json"});
        QCOMPARE(plain.code, 0);
        QVERIFY(!QJsonDocument::fromJson(plain.out).object().contains("decode_steps"));
    }

    void memoryJson() {
        auto r = cli({"memory", "--preset", "deepseek-llm-67b", "--seq", "4096", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["kv_bytes_per_token"].toInteger(), 389120ll);
        QCOMPARE(j["kv_cache_bytes"].toInteger(), 389120ll * 4096);
        QVERIFY(j["weight_bytes"].toInteger() > 130ll * 1000 * 1000 * 1000);
        QCOMPARE(j["kv_cache_bytes_mha"].toInteger(), 8 * 389120ll * 4096);
        // Overrides: the same model as MHA.
        auto m = cli({"memory", "--preset", "deepseek-llm-67b", "--kv-heads", "64", "--seq", "1", "--json"});
        QCOMPARE(QJsonDocument::fromJson(m.out).object()["kv_bytes_per_token"].toInteger(), 8 * 389120ll);
    }

    void refusesBadInput() {
        auto r = cli({"memory", "--kv-heads", "3"});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("n_q_heads (8) is not a multiple of n_kv_heads (3)"));
        r = cli({"run", "--preset", "no-such-model"});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("unknown preset"));
        r = cli({"run", "--head-dim", "31"});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("even"));
        r = cli({"run", "--dtype", "int4"});
        QCOMPARE(r.code, 2);
        r = cli({"run", "--preset", "deepseek-llm-67b", "--batch", "64", "--seq", "4000", "--no-fit"});
        QCOMPARE(r.code, 4);
        QVERIFY(r.err.contains("fit"));
    }

    void runWritesMaps() {
        QTemporaryDir dir;
        const QString maps = dir.path() + "/maps.npy";
        auto r = cli(
            {"run", "--seq", "40", "--decode", "4", "--batch", "2", "--maps-layer", "1", "--maps-out", maps, "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        QVERIFY(j["prefill"].toObject()["tokens_per_s"].toDouble() > 0);
        QVERIFY(j["decode"].toObject()["ops"].toObject()["attention"].toObject()["measured_ms"].toDouble() > 0);
        QCOMPARE(j["allocated"].toObject()["kv_cache_bytes"].toInteger(),
                 j["memory"].toObject()["kv_cache_bytes"].toInteger());
        auto a = readNpy(maps.toStdString());
        QVERIFY(a.isOk());
        QCOMPARE(a->shape, (std::vector<int64_t>{2, 8, 40, 40}));
        for (int64_t row = 0; row < 2 * 8 * 40; ++row) {
            double s = 0;
            for (int64_t k = 0; k < 40; ++k) s += a->data[size_t(row * 40 + k)];
            QVERIFY(std::fabs(s - 1.0) < 1e-4);
        }
    }

    void attentionOnNpy() {
        QTemporaryDir dir;
        auto path = [&](const char* n) { return (dir.path() + "/" + n).toStdString(); };
        const AttentionShape s{2, 8, 2, 5, 12, 16, true};
        auto q = test::randomVector(size_t(2 * 8 * 5 * 16), 1);
        auto k = test::randomVector(size_t(2 * 2 * 12 * 16), 2);
        auto v = test::randomVector(size_t(2 * 2 * 12 * 16), 3);
        QVERIFY(writeNpy(path("q.npy"), {2, 8, 5, 16}, q.data()).isOk());
        QVERIFY(writeNpy(path("k.npy"), {2, 2, 12, 16}, k.data()).isOk());
        QVERIFY(writeNpy(path("v.npy"), {2, 2, 12, 16}, v.data()).isOk());
        auto r =
            cli({"attention", "--q", QString::fromStdString(path("q.npy")), "--k",
                 QString::fromStdString(path("k.npy")), "--v", QString::fromStdString(path("v.npy")), "--causal",
                 "--out", QString::fromStdString(path("o.npy")), "--probs", QString::fromStdString(path("p.npy"))});
        QCOMPARE(r.code, 0);
        auto o = readNpy(path("o.npy"));
        auto p = readNpy(path("p.npy"));
        QVERIFY(o.isOk() && p.isOk());
        QCOMPARE(p->shape, (std::vector<int64_t>{2, 8, 5, 12}));
        std::vector<double> ro(q.size()), rp(size_t(2 * 8 * 5 * 12));
        ref::attention(s, q.data(), k.data(), v.data(), ro.data(), rp.data());
        QVERIFY(test::worstRatio(o->data, ro, 1e-5, 1e-4) <= 1.0);
        QVERIFY(test::worstRatio(p->data, rp, 1e-6, 1e-4) <= 1.0);
        // Bottom-right alignment: query 0 of 5 over 12 keys sees keys 0..7.
        QCOMPARE(p->data[8], 0.0f);
        QVERIFY(p->data[7] > 0.0f);

        // A bf16 cache: the op sees K and V rounded to bf16, exactly as the reference on rounded inputs.
        r = cli({"attention", "--q", QString::fromStdString(path("q.npy")), "--k",
                 QString::fromStdString(path("k.npy")), "--v", QString::fromStdString(path("v.npy")), "--causal",
                 "--kv-dtype", "bf16", "--out", QString::fromStdString(path("o16.npy"))});
        QCOMPARE(r.code, 0);
        {
            auto o16 = readNpy(path("o16.npy"));
            QVERIFY(o16.isOk());
            std::vector<float> kr = k, vr = v;
            for (auto& x : kr) x = roundTo(DType::BF16, x);
            for (auto& x : vr) x = roundTo(DType::BF16, x);
            std::vector<double> r16(q.size());
            ref::attention(s, q.data(), kr.data(), vr.data(), r16.data(), nullptr);
            QVERIFY(test::worstRatio(o16->data, r16, 1e-5, 1e-4) <= 1.0);
            QVERIFY(test::maxAbsDiff(o16->data, ro) > 1e-4);  // and it did round
        }

        // Refusals name the problem.
        const auto bad_k = test::randomVector(size_t(2 * 3 * 12 * 16), 4);  // 3 KV heads: its own buffer of that size
        QVERIFY(writeNpy(path("bad_k.npy"), {2, 3, 12, 16}, bad_k.data()).isOk());
        r = cli({"attention", "--q", QString::fromStdString(path("q.npy")), "--k",
                 QString::fromStdString(path("bad_k.npy")), "--v", QString::fromStdString(path("bad_k.npy")), "--out",
                 QString::fromStdString(path("x.npy"))});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("not a multiple"));
        QVERIFY(writeNpy(path("k3.npy"), {2, 2, 12}, k.data()).isOk());
        r = cli({"attention", "--q", QString::fromStdString(path("q.npy")), "--k",
                 QString::fromStdString(path("k3.npy")), "--v", QString::fromStdString(path("k3.npy")), "--out",
                 QString::fromStdString(path("x.npy"))});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("(B, Hkv, Tk, D)"));
        {
            std::ofstream f(path("trunc.npy"), std::ios::binary);
            std::ifstream in(path("k.npy"), std::ios::binary);
            std::string all((std::istreambuf_iterator<char>(in)), {});
            f << all.substr(0, all.size() - 100);
        }
        r = cli({"attention", "--q", QString::fromStdString(path("q.npy")), "--k",
                 QString::fromStdString(path("trunc.npy")), "--v", QString::fromStdString(path("v.npy")), "--out",
                 QString::fromStdString(path("x.npy"))});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("truncated"));
        QVERIFY(!QFile::exists(QString::fromStdString(path("x.npy"))));
        r = cli({"attention", "--q", QString::fromStdString(path("q.npy")), "--k",
                 QString::fromStdString(path("k.npy")), "--v", QString::fromStdString(path("v.npy")), "--backend",
                 "cuda", "--out", QString::fromStdString(path("x.npy"))});
        if (r.code != 0) {
            QCOMPARE(r.code, 3);
            QVERIFY(r.err.contains("CUDA"));
        }
    }

#ifdef GQA_TESTDATA_DIR
    // The commands on the shared test model: JSON fields and values against reference/expected.json.
    void realModelCommands() {
        const QString dir = QStringLiteral(GQA_TESTDATA_DIR) + "/models/tiny-llama-gqa";
        QFile f(dir + "/reference/expected.json");
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto p = QJsonDocument::fromJson(f.readAll()).object()["prompts"].toArray()[0].toObject();
        const QString prompt = p["prompt"].toString();
        const QJsonArray tokens = p["tokens"].toArray();

        auto info = cli({"info", "--model", dir + "/hf", "--json"});
        QCOMPARE(info.code, 0);
        const auto ij = QJsonDocument::fromJson(info.out).object();
        QCOMPARE(ij["n_q_heads"].toInt(), 8);
        QCOMPARE(ij["n_kv_heads"].toInt(), 2);
        QCOMPARE(ij["group_size"].toInt(), 4);
        QCOMPARE(ij["head_dim"].toInt(), 16);
        QCOMPARE(ij["n_layers"].toInt(), 4);
        QCOMPARE(ij["tokenizer"].toString(), QString("spm"));
        QCOMPARE(ij["context_length"].toInt(), 2048);
        QCOMPARE(ij["weight_dtypes"].toObject()["attention"].toString(), QString("bf16"));
        // 2 (K and V) x 4 layers x 2 KV heads x 16 x 4 bytes (the default fp32 cache of a checkpoint).
        QCOMPARE(ij["kv_bytes_per_token"].toInteger(), 2ll * 4 * 2 * 16 * 4);

        auto tok = cli({"tokenize", "--model", dir + "/tiny-llama-gqa-q8_0.gguf", "--text", prompt, "--json"});
        QCOMPARE(tok.code, 0);
        const auto tj = QJsonDocument::fromJson(tok.out).object();
        QCOMPARE(tj["ids"].toArray(), tokens);
        QCOMPARE(tj["pieces"].toArray().size(), tokens.size());
        auto nobos = cli({"tokenize", "--model", dir + "/hf", "--text", prompt, "--no-bos", "--json"});
        QCOMPARE(QJsonDocument::fromJson(nobos.out).object()["ids"].toArray().size(), tokens.size() - 1);
        // A vocabulary-only GGUF is enough for tokenize.
        auto voc =
            cli({"tokenize", "--model", QStringLiteral(GQA_TESTDATA_DIR) + "/tokenizers/ggml-vocab-llama-spm.gguf",
                 "--text", prompt, "--json"});
        QCOMPARE(voc.code, 0);
        QCOMPARE(QJsonDocument::fromJson(voc.out).object()["ids"].toArray(), tokens);

        QTemporaryDir tmp;
        const QString npy = tmp.path() + "/logits.npy";
        auto lg =
            cli({"logits", "--model", dir + "/tiny-llama-gqa-bf16.gguf", "--prompt", prompt, "--out", npy, "--json"});
        QCOMPARE(lg.code, 0);
        QCOMPARE(QJsonDocument::fromJson(lg.out).object()["tokens"].toArray(), tokens);
        auto arr = readNpy(npy.toStdString());
        QVERIFY(arr.isOk());
        QCOMPARE(arr->shape, (std::vector<int64_t>{tokens.size(), 32000}));

        auto pp = cli({"perplexity", "--model", dir + "/hf", "--text", prompt, "--json"});
        QCOMPARE(pp.code, 0);
        const auto pj = QJsonDocument::fromJson(pp.out).object();
        const double ref = p["f32"].toObject()["perplexity"].toDouble();
        QVERIFY(std::fabs(pj["perplexity"].toDouble() - ref) <= 1e-3 * ref);
        QCOMPARE(pj["tokens"].toInt(), tokens.size() - 1);
        QVERIFY(std::fabs(std::exp(pj["mean_nll"].toDouble()) - pj["perplexity"].toDouble()) <= 1e-6 * ref);

        auto run =
            cli({"run", "--model", dir + "/hf", "--prompt", prompt, "--decode", "32", "--temperature", "0", "--json"});
        QCOMPARE(run.code, 0);
        const auto rj = QJsonDocument::fromJson(run.out).object();
        QCOMPARE(rj["prompt_tokens"].toArray(), tokens);
        QCOMPARE(rj["generated_tokens"].toArray(), p["greedy"].toArray());
        QVERIFY(!rj["text"].toString().isEmpty());
        // Seeded sampling is deterministic.
        const QStringList sampled = {"run", "--model",       dir + "/hf", "--prompt", prompt, "--decode",
                                     "8",   "--temperature", "0.8",       "--top-k",  "40",   "--top-p",
                                     "0.9", "--seed",        "5",         "--json"};
        QCOMPARE(QJsonDocument::fromJson(cli(sampled).out).object()["generated_tokens"].toArray(),
                 QJsonDocument::fromJson(cli(sampled).out).object()["generated_tokens"].toArray());

        // Maps on a real model list the prompt's token strings.
        const QString maps = tmp.path() + "/maps.npy";
        auto mr = cli({"run", "--model", dir + "/hf", "--prompt", prompt, "--decode", "0", "--maps-layer", "1",
                       "--maps-out", maps, "--json"});
        QCOMPARE(mr.code, 0);
        QCOMPARE(QJsonDocument::fromJson(mr.out).object()["prompt_pieces"].toArray().size(), tokens.size());
        QCOMPARE(readNpy(maps.toStdString())->shape, (std::vector<int64_t>{1, 8, tokens.size(), tokens.size()}));

        // convert writes a directory that loads back with the new grouping.
        const QString out = tmp.path() + "/mqa";
        auto cv = cli({"convert", "--model", dir + "/hf", "--kv-heads", "1", "--out", out});
        QCOMPARE(cv.code, 0);
        auto back = cli({"info", "--model", out, "--json"});
        QCOMPARE(back.code, 0);
        QCOMPARE(QJsonDocument::fromJson(back.out).object()["n_kv_heads"].toInt(), 1);
        auto bad = cli({"convert", "--model", dir + "/hf", "--kv-heads", "3", "--out", tmp.path() + "/x"});
        QCOMPARE(bad.code, 2);
        QVERIFY(bad.err.contains("valid targets: 1, 2"));
    }

    // Corrupt and hostile files: exit code 2, a message naming the file and the problem.
    void refusesCorruptCheckpoints() {
        const QString dir = QStringLiteral(GQA_TESTDATA_DIR) + "/models/tiny-llama-gqa";
        QTemporaryDir tmp;
        QFile src(dir + "/tiny-llama-gqa-bf16.gguf");
        QVERIFY(src.open(QIODevice::ReadOnly));
        const QByteArray gguf = src.readAll();
        auto write = [&](const QString& name, const QByteArray& bytes) {
            QFile f(tmp.path() + "/" + name);
            f.open(QIODevice::WriteOnly);
            f.write(bytes);
            return tmp.path() + "/" + name;
        };
        struct Case {
            const char* name;
            QByteArray bytes;
            const char* says;
        };
        QByteArray magic = gguf;
        magic[0] = 'X';
        QByteArray version = gguf;
        version[4] = 9;
        QByteArray truncated = gguf.left(gguf.size() / 2);
        const Case cases[] = {{"magic.gguf", magic, "magic"},
                              {"version.gguf", version, "version"},
                              {"truncated.gguf", truncated, "beyond the end"}};
        for (const auto& c : cases) {
            const QString path = write(c.name, c.bytes);
            auto r = cli({"info", "--model", path});
            QCOMPARE(r.code, 2);
            QVERIFY2(r.err.contains(c.name) && r.err.contains(c.says), r.err.constData());
        }
        // safetensors whose header length runs past the end of the file.
        QDir().mkpath(tmp.path() + "/hf");
        QFile::copy(dir + "/hf/config.json", tmp.path() + "/hf/config.json");
        QByteArray st(16, '\0');
        st[0] = char(0xff);
        st[1] = char(0xff);
        write("hf/model.safetensors", st);
        auto r = cli({"run", "--model", tmp.path() + "/hf", "--decode", "1"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("model.safetensors"), r.err.constData());
        // A config whose heads do not divide.
        QFile cfg(tmp.path() + "/hf/config.json");
        QVERIFY(cfg.open(QIODevice::ReadOnly));
        auto j = QJsonDocument::fromJson(cfg.readAll()).object();
        cfg.close();
        j["num_key_value_heads"] = 3;
        write("hf/config.json", QJsonDocument(j).toJson());
        r = cli({"info", "--model", tmp.path() + "/hf"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("config.json") && r.err.contains("n_kv_heads (3)"), r.err.constData());
        // A checkpoint option that the weights fix.
        r = cli({"run", "--model", dir + "/hf", "--q-heads", "16"});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("--q-heads"));
    }
#endif

    void verifyPasses() {
        auto r = cli({"verify", "--backend", "cpu"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("0 failed"));
        QVERIFY(r.out.contains("GQA g=8"));
        QVERIFY(r.out.contains("MQA"));
    }

    void benchJson() {
        auto r = cli({"bench", "--quick", "--iterations", "3", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        QVERIFY(j["ceilings"].toObject()["mem_read_bw_gb_per_s"].toDouble() > 0);
        const auto rows = j["attention"].toArray();
        QVERIFY(rows.size() >= 5);
        for (const auto& row : rows) QVERIFY(row.toObject()["speedup_vs_mha"].toDouble() > 0);
        QCOMPARE(j["layer_decode"].toArray().size(), 2);
    }

    // The decode-shape table: every row against the higher of the bandwidth probes just before and just after it,
    // marked when they differ by more than 25%, and its fraction computed from its own bytes and time.
    void benchDecodeTableJson() {
        auto r = cli({"bench", "--decode-table", "--quick", "--iterations", "3", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        const auto rows = j["decode_table"].toArray();
        QCOMPARE(rows.size(), 32);  // 2 dtypes x B 1, 2 x D 64, 128 x 4 head layouts at the quick context
        double prev_after = -1;
        for (const auto& v : rows) {
            const auto row = v.toObject();
            const double before = row["mem_read_bw_before_gb_per_s"].toDouble();
            const double after = row["mem_read_bw_after_gb_per_s"].toDouble();
            const double bw = row["mem_read_bw_gb_per_s"].toDouble();
            QVERIFY(before > 0 && after > 0);
            QCOMPARE(bw, std::max(before, after));
            QCOMPARE(row["bandwidth_moved"].toBool(), bw > 1.25 * std::min(before, after));
            if (prev_after >= 0) QCOMPARE(before, prev_after);  // one probe between consecutive rows
            prev_after = after;
            const double gbps = row["kv_bytes"].toDouble() / (row["ms"].toDouble() * 1e-3) * 1e-9;
            QVERIFY(std::abs(row["fraction_of_read_bw"].toDouble() - gbps / bw) < 1e-9);
            QVERIFY(row["min_ms"].toDouble() <= row["median_ms"].toDouble());
            QVERIFY(row["median_ms"].toDouble() <= row["max_ms"].toDouble());
        }
    }

    // A whole model with the LM head: prefill against the GEMM ceiling, decode against its bytes, in Q8_0 and bf16.
    void benchRandomModelJson() {
        auto bench = [&](const char* dtype) {
            auto r = cli({"bench", "--random", "smollm2-135m", "--weight-dtype", dtype, "--prompt-tokens", "8",
                          "--steps", "3", "--prefill-repeats", "2", "--json"});
            if (r.code != 0) qWarning() << r.err;
            return std::make_pair(r.code, QJsonDocument::fromJson(r.out).object());
        };
        const auto [c8, q8] = bench("q8_0");
        QCOMPARE(c8, 0);
        QCOMPARE(q8["weight_dtype"].toString(), QString("q8_0"));
        QVERIFY(q8["lm_head_included"].toBool());
        QCOMPARE(q8["prompt_tokens"].toInt(), 8);
        QCOMPARE(q8["prefill"].toObject()["repeats"].toInt(), 2);
        QCOMPARE(q8["decode_steps"].toInt(), 3);
        for (const char* k : {"prefill_gflop_per_s", "gemm_gflop_per_s", "prefill_fraction_of_gemm", "step_over_floor",
                              "floor_ms", "decode_tokens_per_s", "prefill_tokens_per_s"})
            QVERIFY2(q8[k].toDouble() > 0, k);
        // The floor's bandwidth: the higher of the probes before the prefills and after the steps.
        const double before = q8["mem_read_bw_before_gb_per_s"].toDouble();
        const double after = q8["mem_read_bw_after_gb_per_s"].toDouble();
        QVERIFY(before > 0 && after > 0);
        QCOMPARE(q8["mem_read_bw_gb_per_s"].toDouble(), std::max(before, after));
        QCOMPARE(q8["bandwidth_moved"].toBool(), std::max(before, after) > 1.25 * std::min(before, after));
        const double bytes = q8["weight_bytes_per_step"].toDouble() + q8["kv_bytes_per_step"].toDouble();
        QVERIFY(std::abs(q8["floor_ms"].toDouble() - bytes / (std::max(before, after) * 1e9) * 1e3) <
                1e-9 * q8["floor_ms"].toDouble());
        // Prefill FLOPs: 2 per weight per token, the LM head for the last token only (plus attention's few).
        const double d = 576, ffn = 1536, layers = 30, vocab = 49152, kv = 3 * 64;
        const double per_token = layers * 2 * (2 * d * d + 2 * d * kv + 3 * d * ffn);
        QVERIFY(q8["prefill_gflop"].toDouble() > (8 * per_token + 2 * vocab * d) * 1e-9);
        QVERIFY(q8["prefill_gflop"].toDouble() < (8 * per_token + 2 * vocab * d) * 1.02e-9);
        const auto [c16, bf] = bench("bf16");
        QCOMPARE(c16, 0);
        // The floor counts bytes as stored: Q8_0 is 34 bytes per 32 values where bf16 is 64.
        const double ratio = q8["weight_bytes_per_step"].toDouble() / bf["weight_bytes_per_step"].toDouble();
        QVERIFY2(ratio > 0.53 && ratio < 0.54, qPrintable(QString::number(ratio)));
        auto r = cli({"bench", "--random", "smollm2-135m", "--weight-dtype", "int4"});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("int4"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
