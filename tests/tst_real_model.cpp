// The shared test model (../shared/testdata/models/tiny-llama-gqa) in the three forms users bring, against the
// outside reference results in reference/expected.json (llama.cpp, and a float64 NumPy Hugging Face forward for
// the dequantized Q8_0 weights). Every expected value is read from that file; nothing here is computed by
// GQA Lab's own code and then compared with itself.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gqa/backend.h"
#include "gqa/convert.h"
#include "gqa/engine.h"
#include "gqa/jobs.h"
#include "gqa/model.h"
#include "gqa/npy.h"
#include "gqa/reference.h"
#include "gqa/safetensors.h"
#include "gqa/sampling.h"
#include "gqa/tokenizer.h"

using namespace gqa;
namespace fs = std::filesystem;

namespace {

const QString kData = QStringLiteral(GQA_TESTDATA_DIR);
std::string modelDir() {
    return (kData + "/models/tiny-llama-gqa").toStdString();
}

QJsonObject expected() {
    QFile f(QString::fromStdString(modelDir() + "/reference/expected.json"));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

std::vector<int32_t> ints(const QJsonArray& a) {
    std::vector<int32_t> v;
    for (const auto& x : a) v.push_back(static_cast<int32_t>(x.toInteger()));
    return v;
}

// One prefill with the logits of every position: (T, vocab).
std::vector<float> promptLogits(Backend& be, const Model& m, const std::vector<int32_t>& tokens) {
    auto inst = be.createModel(m, 1, static_cast<int64_t>(tokens.size()));
    if (!inst) {
        qWarning() << inst.error().message.c_str();
        return {};
    }
    StepRequest req;
    req.logits = LogitsMode::All;
    StepOutput out;
    if (auto st = (*inst)->prefill(tokens.data(), static_cast<int64_t>(tokens.size()), req, out); !st) {
        qWarning() << st.message().c_str();
        return {};
    }
    return out.logits;
}

Expected<Model> load(const std::string& path) {
    auto m = loadModel(path);
    if (m) m->config.kv_dtype = DType::F32;  // the reference's cache (llama.cpp, F32 KV)
    return m;
}

std::vector<std::unique_ptr<Backend>> backends() {
    std::vector<std::unique_ptr<Backend>> out;
    for (const auto& b : probeBackends())
        if (b.available)
            if (auto be = createBackend(b.name)) out.push_back(std::move(*be));
    return out;
}

}  // namespace

class TestRealModel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { QVERIFY2(!expected().isEmpty(), "reference/expected.json not readable"); }

    // Logits, log-sum-exp, top-10 and perplexity of every prompt, each form on every available backend.
    void logitsAgainstReference_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("ref");
        QTest::newRow("hf") << "hf"
                            << "f32";
        QTest::newRow("bf16 gguf") << "tiny-llama-gqa-bf16.gguf"
                                   << "f32";
        QTest::newRow("q8_0 gguf") << "tiny-llama-gqa-q8_0.gguf"
                                   << "q8_0_dequantized_exact";
    }
    void logitsAgainstReference() {
        QFETCH(QString, file);
        QFETCH(QString, ref);
        auto m = load(modelDir() + "/" + file.toStdString());
        QVERIFY2(m.isOk(), m.isOk() ? "" : m.error().message.c_str());
        QVERIFY(m->tokenizer);
        const int64_t V = m->config.vocab_size;
        for (auto& be : backends()) {
            for (const auto& pv : expected()["prompts"].toArray()) {
                const QJsonObject p = pv.toObject();
                const QJsonObject r = p[ref].toObject();
                const auto tokens = m->tokenizer->encode(p["prompt"].toString().toStdString(), true);
                QCOMPARE(tokens, ints(p["tokens"].toArray()));
                const auto logits = promptLogits(*be, *m, tokens);
                QCOMPARE(logits.size(), tokens.size() * static_cast<size_t>(V));
                const auto lse = r["logsumexp"].toArray();
                const auto top_ids = r["top10_ids"].toArray();
                const auto top_logits = r["top10_logits"].toArray();
                for (size_t t = 0; t < tokens.size(); ++t) {
                    const float* row = logits.data() + t * static_cast<size_t>(V);
                    const QString where = QString("%1 on %2, position %3").arg(file, be->name().c_str()).arg(t);
                    QVERIFY2(std::fabs(logSumExp(row, V) - lse[static_cast<int>(t)].toDouble()) <= 2e-3,
                             qPrintable(where + ": log-sum-exp"));
                    QCOMPARE(topK(row, V, 10), ints(top_ids[static_cast<int>(t)].toArray()));
                    const auto ids = ints(top_ids[static_cast<int>(t)].toArray());
                    const auto vals = top_logits[static_cast<int>(t)].toArray();
                    for (size_t k = 0; k < ids.size(); ++k)
                        QVERIFY2(std::fabs(row[ids[k]] - vals[static_cast<int>(k)].toDouble()) <= 2e-3,
                                 qPrintable(where + ": top-10 logit"));
                }
                const PerplexityResult pp = perplexityOf(logits, tokens, V);
                const double ref_ppl = r["perplexity"].toDouble();
                QVERIFY2(std::fabs(pp.perplexity - ref_ppl) <= 1e-3 * ref_ppl, qPrintable(file + ": perplexity"));
                const auto nlp = r["next_token_logprob"].toArray();
                QCOMPARE(pp.token_logprob.size(), static_cast<size_t>(nlp.size()));
                for (int t = 0; t < nlp.size(); ++t)
                    QVERIFY(std::fabs(pp.token_logprob[static_cast<size_t>(t)] - nlp[t].toDouble()) <= 2e-3);
            }
        }
    }

    // The full logits of prompt 1 (reference/logits-f32-prompt1.npy) from the HF directory.
    void fullLogitsOfPromptOne() {
        auto m = load(modelDir() + "/hf");
        QVERIFY(m.isOk());
        auto ref = readNpy(modelDir() + "/reference/logits-f32-prompt1.npy");
        QVERIFY2(ref.isOk(), ref.isOk() ? "" : ref.error().message.c_str());
        const auto tokens = ints(expected()["prompts"].toArray()[0].toObject()["tokens"].toArray());
        QCOMPARE(ref->shape, (std::vector<int64_t>{static_cast<int64_t>(tokens.size()), m->config.vocab_size}));
        auto be = createCpuBackend();
        const auto logits = promptLogits(*be, *m, tokens);
        QCOMPARE(logits.size(), ref->data.size());
        double worst = 0.0;
        for (size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::fabs(double(logits[i]) - ref->data[i]));
        QVERIFY2(worst <= 2e-3, qPrintable(QString("max |logit - reference| = %1").arg(worst)));
    }

    // The float64 reference forward is itself checked against the outside results.
    void referenceForwardAgainstOutsideResults() {
        auto m = load(modelDir() + "/hf");
        QVERIFY(m.isOk());
        const QJsonObject p = expected()["prompts"].toArray()[0].toObject();
        const auto tokens = ints(p["tokens"].toArray());
        const auto T = static_cast<int64_t>(tokens.size());
        const auto f = ref::forward(*m, tokens, 1, T, DType::F32, /*logits=*/true);
        const int64_t V = m->config.vocab_size;
        const auto top = p["f32"].toObject()["top10_ids"].toArray();
        const auto vals = p["f32"].toObject()["top10_logits"].toArray();
        for (int64_t t = 0; t < T; ++t) {
            const auto ids = ints(top[static_cast<int>(t)].toArray());
            for (size_t k = 0; k < ids.size(); ++k)
                QVERIFY(std::fabs(f.logits[static_cast<size_t>(t * V + ids[k])] -
                                  vals[static_cast<int>(t)].toArray()[static_cast<int>(k)].toDouble()) <= 2e-3);
        }
    }

    // 32 greedy tokens through the engine's run (prefill, then decode steps fed from the LM head).
    void greedyContinuations_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<bool>("q8");
        QTest::newRow("hf") << "hf" << false;
        QTest::newRow("bf16 gguf") << "tiny-llama-gqa-bf16.gguf" << false;
        QTest::newRow("q8_0 gguf") << "tiny-llama-gqa-q8_0.gguf" << true;
    }
    void greedyContinuations() {
        QFETCH(QString, file);
        QFETCH(bool, q8);
        auto m = load(modelDir() + "/" + file.toStdString());
        QVERIFY(m.isOk());
        auto model = std::make_shared<const Model>(std::move(*m));
        Ceilings known;
        known.mem_bw_bytes_per_s = 1e10;
        known.gemm_flops_per_s = 1e10;
        for (auto& be : backends()) {
            for (const auto& pv : expected()["prompts"].toArray()) {
                const QJsonObject p = pv.toObject();
                const auto want =
                    ints(q8 ? p["q8_0_dequantized_exact"].toObject()["greedy"].toArray() : p["greedy"].toArray());
                RunRequest req;
                req.config = model->config;
                req.model = model;
                req.prompt_tokens = ints(p["tokens"].toArray());
                req.shape.prompt_len = static_cast<int64_t>(req.prompt_tokens.size());
                req.shape.decode_steps = static_cast<int64_t>(want.size());
                req.stop_at_eos = false;
                req.ceilings = known;
                auto r = runModel(*be, req);
                QVERIFY2(r.isOk(), r.isOk() ? "" : r.error().message.c_str());
                QCOMPARE(r->generated.at(0), want);
            }
        }
    }

    // The app's and the CLI's jobs on the real model: loading reports every step and can be cancelled; a live
    // run reports plan, tokens as they are produced (the reference greedy ones), result and prompt perplexity in
    // that order, and converts through its cache once for a run at fewer KV heads.
    void jobsOnTheRealModel() {
        const QJsonObject p = expected()["prompts"].toArray().at(0).toObject();
        for (const std::string file : {std::string("hf"), std::string("tiny-llama-gqa-bf16.gguf")}) {
            const std::string path = modelDir() + "/" + file;
            JobControl control;
            auto model = loadModelJob(path, 0, &control);
            QVERIFY2(model.isOk(), model.isOk() ? "" : model.error().message.c_str());
            const bool gguf = file.size() > 5;
            QCOMPARE(control.total.load(), 2 + loadProgressSteps(model.value()->config.n_layers, gguf));
            QCOMPARE(control.done.load(), control.total.load());
            JobControl cancelled;
            cancelled.cancel = true;
            auto refused = loadModelJob(path, 0, &cancelled);
            QVERIFY(!refused.isOk());
            QCOMPARE(refused.error().code, ErrorCode::Cancelled);

            auto backend = createCpuBackend();
            LiveRunRequest req;
            req.model = model.value();
            req.config = req.model->config;
            req.prompt_tokens = ints(p["tokens"].toArray());
            req.shape.prompt_len = static_cast<int64_t>(req.prompt_tokens.size());
            req.shape.decode_steps = 6;
            req.repeat.repeats = 1;
            LiveModelCache cache;
            std::vector<std::string> order;
            std::vector<int32_t> streamed;
            RunResult result;
            double ppl = 0.0;
            LiveRunEvents ev;
            ev.on_plan = [&](RunPlan plan) {
                order.push_back("plan");
                QCOMPARE(plan.layers_planned, req.config.n_layers);
            };
            ev.on_token = [&](int64_t step, const std::vector<int32_t>& t) {
                if (order.back() != "token") order.push_back("token");
                QCOMPARE(step, static_cast<int64_t>(streamed.size()));
                streamed.push_back(t.at(0));
            };
            ev.on_result = [&](RunResult r) {
                order.push_back("result");
                result = std::move(r);
            };
            ev.on_prompt_perplexity = [&](double v) {
                order.push_back("perplexity");
                ppl = v;
            };
            JobControl run_control;
            Status s = runLiveJob(*backend, req, cache, &run_control, ev);
            QVERIFY2(s.isOk(), s.isOk() ? "" : s.message().c_str());
            QCOMPARE(order, (std::vector<std::string>{"plan", "token", "result", "perplexity"}));
            QCOMPARE(streamed, result.generated.at(0));
            auto want = ints(p["greedy"].toArray());
            want.resize(streamed.size());
            QCOMPARE(streamed, want);
            QCOMPARE(run_control.done.load(), run_control.total.load());
            QVERIFY(ppl > 1.0);

            // Fewer KV heads: converted once, reused by the next edit (a different prompt length).
            req.config.n_kv_heads = 1;
            auto first = cache.modelFor(req);
            QVERIFY(first.isOk() && first.value() != req.model);
            QCOMPARE(first.value()->config.n_kv_heads, int64_t{1});
            req.shape.decode_steps = 1;
            order.clear();
            streamed.clear();
            s = runLiveJob(*backend, req, cache, &run_control, ev);
            QVERIFY2(s.isOk(), s.isOk() ? "" : s.message().c_str());
            QCOMPARE(cache.modelFor(req).value(), first.value());
            QCOMPARE(result.config.n_kv_heads, int64_t{1});
            JobControl stop;
            stop.cancel = true;
            QCOMPARE(runLiveJob(*backend, req, cache, &stop, ev).error().code, ErrorCode::Cancelled);
        }
    }

    // Converting to one KV head and saving gives a directory that loads back with identical logits.
    void convertSaveLoadBack() {
        auto m = load(modelDir() + "/hf");
        QVERIFY(m.isOk());
        auto c = convertKvHeads(*m, 1, ConvertMethod::MeanPool);
        QVERIFY(c.isOk());
        QCOMPARE(c->config.n_kv_heads, int64_t(1));
        QTemporaryDir dir;
        QVERIFY(saveHfModel(*c, dir.path().toStdString()).isOk());
        auto back = load(dir.path().toStdString());
        QVERIFY2(back.isOk(), back.isOk() ? "" : back.error().message.c_str());
        QCOMPARE(back->config.n_kv_heads, int64_t(1));
        QVERIFY(back->tokenizer);
        const auto tokens = ints(expected()["prompts"].toArray()[2].toObject()["tokens"].toArray());
        QCOMPARE(back->tokenizer->encode(
                     expected()["prompts"].toArray()[2].toObject()["prompt"].toString().toStdString(), true),
                 tokens);
        auto be = createCpuBackend();
        const auto a = promptLogits(*be, *c, tokens), b = promptLogits(*be, *back, tokens);
        QVERIFY(!a.empty());
        QCOMPARE(a, b);
        // ...and they differ from the original's: the conversion did something.
        QVERIFY(promptLogits(*be, *m, tokens) != a);
        // The GGUF forms convert and save too (their Q/K rows un-permuted, Q8_0 written as exact F32).
        auto q = load(modelDir() + "/tiny-llama-gqa-q8_0.gguf");
        QVERIFY(q.isOk());
        auto qc = convertKvHeads(*q, 1, ConvertMethod::First);
        QVERIFY(qc.isOk());
        QTemporaryDir qdir;
        QVERIFY(saveHfModel(*qc, qdir.path().toStdString()).isOk());
        auto qback = loadModel(qdir.path().toStdString());
        QVERIFY2(qback.isOk(), qback.isOk() ? "" : qback.error().message.c_str());
        qback->config.kv_dtype = DType::F32;
        QCOMPARE(promptLogits(*be, *qback, tokens), promptLogits(*be, *qc, tokens));
    }

    // A sharded copy of hf/ (two shards and an index, written here) loads with logits identical to the file.
    void shardedCheckpoint() {
        auto m = load(modelDir() + "/hf");
        QVERIFY(m.isOk());
        auto st = readSafetensors(modelDir() + "/hf/model.safetensors");
        QVERIFY(st.isOk());
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        std::vector<SafetensorsWriteTensor> a, b;
        QJsonObject map;
        for (size_t i = 0; i < st->tensors.size(); ++i) {
            const auto& t = st->tensors[i];
            (i % 2 ? b : a).push_back({t.name, t.dtype, t.shape, t.data, t.bytes});
            map[QString::fromStdString(t.name)] =
                i % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
        }
        QVERIFY(writeSafetensors(d + "/model-00001-of-00002.safetensors", a).isOk());
        QVERIFY(writeSafetensors(d + "/model-00002-of-00002.safetensors", b).isOk());
        {
            QFile f(QString::fromStdString(d + "/model.safetensors.index.json"));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QJsonDocument(QJsonObject{{"metadata", QJsonObject{}}, {"weight_map", map}}).toJson());
        }
        for (const char* name : {"config.json", "tokenizer.model", "tokenizer_config.json"})
            fs::copy_file(modelDir() + "/hf/" + name, d + "/" + name);
        auto sh = load(d);
        QVERIFY2(sh.isOk(), sh.isOk() ? "" : sh.error().message.c_str());
        QCOMPARE(sh->storage.size(), size_t(2));
        const auto tokens = ints(expected()["prompts"].toArray()[1].toObject()["tokens"].toArray());
        auto be = createCpuBackend();
        QCOMPARE(promptLogits(*be, *sh, tokens), promptLogits(*be, *m, tokens));
        // An index naming a shard that is not there is refused, naming it.
        fs::remove(d + "/model-00002-of-00002.safetensors");
        auto gone = loadModel(d);
        QVERIFY(!gone.isOk());
        QVERIFY(gone.error().message.find("model-00002-of-00002.safetensors") != std::string::npos);
    }

    // Checkpoints that do not match their config, or that would not fit, are refused with the file named.
    void refusals() {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        for (const char* name : {"config.json", "tokenizer.model", "tokenizer_config.json"})
            fs::copy_file(modelDir() + "/hf/" + name, d + "/" + name);
        auto st = readSafetensors(modelDir() + "/hf/model.safetensors");
        QVERIFY(st.isOk());
        auto writeWith = [&](auto edit) {
            std::vector<SafetensorsWriteTensor> ts;
            for (const auto& t : st->tensors) ts.push_back({t.name, t.dtype, t.shape, t.data, t.bytes});
            edit(ts);
            return writeSafetensors(d + "/model.safetensors", ts);
        };
        // A tensor missing.
        QVERIFY(writeWith([](auto& ts) {
                    ts.erase(std::remove_if(ts.begin(), ts.end(),
                                            [](auto& t) { return t.name == "model.layers.2.mlp.up_proj.weight"; }),
                             ts.end());
                }).isOk());
        auto r = loadModel(d);
        QVERIFY(!r.isOk());
        QCOMPARE(r.error().code, ErrorCode::Corrupt);
        QVERIFY(r.error().message.find("model.layers.2.mlp.up_proj.weight") != std::string::npos);
        // A tensor shaped differently from the config (k_proj as if there were 4 KV heads).
        std::vector<uint16_t> big(4 * 16 * 128, 0);
        QVERIFY(writeWith([&](auto& ts) {
                    for (auto& t : ts)
                        if (t.name == "model.layers.1.self_attn.k_proj.weight") {
                            t.shape = {64, 128};
                            t.data = big.data();
                            t.bytes = static_cast<int64_t>(big.size() * 2);
                        }
                }).isOk());
        r = loadModel(d);
        QVERIFY(!r.isOk());
        QVERIFY(r.error().message.find("model.layers.1.self_attn.k_proj.weight") != std::string::npos);
        QVERIFY(r.error().message.find("(64, 128)") != std::string::npos);
        // Too big for the memory we say is available: refused before anything is mapped.
        QVERIFY(writeWith([](auto&) {}).isOk());
        LoadOptions tiny;
        tiny.available_bytes = 1 << 20;
        r = loadModel(d, tiny);
        QVERIFY(!r.isOk());
        QCOMPARE(r.error().code, ErrorCode::OutOfMemory);
        // A PyTorch pickle is refused with what to do instead.
        fs::remove(d + "/model.safetensors");
        { std::ofstream(d + "/pytorch_model.bin") << "not read"; }
        r = loadModel(d);
        QVERIFY(!r.isOk());
        QVERIFY(r.error().message.find("safetensors") != std::string::npos);
        // A split GGUF is refused with the merge command.
        { std::ofstream(d + "/model-00001-of-00003.gguf") << "GGUF"; }
        r = loadModel(d + "/model-00001-of-00003.gguf");
        QVERIFY(!r.isOk());
        QVERIFY(r.error().message.find("merge") != std::string::npos);
    }

    // GGUF's permuted Q/K rows are undone: the layer-0 Q projection of the GGUF equals the safetensors one.
    void ggufRowsMatchHf() {
        auto hf = loadModel(modelDir() + "/hf"), gg = loadModel(modelDir() + "/tiny-llama-gqa-bf16.gguf");
        QVERIFY(hf.isOk() && gg.isOk());
        for (int l : {0, 3}) {
            const auto& a = hf->layers[static_cast<size_t>(l)];
            const auto& b = gg->layers[static_cast<size_t>(l)];
            for (auto [x, y] : {std::pair{&a.wq, &b.wq}, std::pair{&a.wk, &b.wk}, std::pair{&a.wv, &b.wv},
                                std::pair{&a.w_down, &b.w_down}}) {
                QCOMPARE(x->bytes, y->bytes);
                QVERIFY(std::memcmp(x->data, y->data, static_cast<size_t>(x->bytes)) == 0);
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestRealModel)
#include "tst_real_model.moc"
