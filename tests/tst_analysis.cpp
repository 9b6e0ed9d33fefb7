// What grouping does to attention: head statistics of hand-built maps, the structured synthetic heads, the JS
// diversity matrix, sliding-window attention and the rolling KV cache against the float64 reference, the memory
// and cost of a window, and tensor-parallel shards — all against hand-computed numbers.
#include <QtTest>

#include <cmath>
#include <numeric>

#include "attention_inputs.h"
#include "cpu_kernels.h"
#include "gqa/analysis.h"
#include "gqa/backend.h"
#include "gqa/cost_model.h"
#include "gqa/engine.h"
#include "gqa/memory_model.h"
#include "gqa/model.h"
#include "gqa/presets.h"
#include "gqa/reference.h"
#include "gqa/weights.h"
#include "test_util.h"

using namespace gqa;

namespace {

// One head's (T, T) map with row i given by f(i, j).
template <class F>
LayerMaps handMap(int64_t T, F f, int64_t n_heads = 1) {
    LayerMaps m;
    m.batch = 1;
    m.q_len = m.kv_len = T;
    for (int64_t h = 0; h < n_heads; ++h) m.heads.push_back(h);
    m.probs.assign(static_cast<size_t>(n_heads * T * T), 0.0f);
    for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = 0; j <= i; ++j) m.probs[static_cast<size_t>((h * T + i) * T + j)] = f(h, i, j);
    return m;
}

ModelConfig smallConfig(int64_t window, DType t) {
    ModelConfig c;
    c.name = "tst-window";
    c.d_model = 128;
    c.n_layers = 2;
    c.n_q_heads = 8;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.ffn_dim = 256;
    c.vocab_size = 256;
    c.max_seq = 64;
    c.sliding_window = window;
    c.weight_dtype = c.embed_dtype = c.kv_dtype = t;
    return c;
}

}  // namespace

class TestAnalysis : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { m_cpu = createCpuBackend(); }

    // ---- statistics of maps built by hand ----------------------------------------------------------------
    // A head that puts all its weight on the previous token: distance 1, no sink, no uncertainty.
    void oneHotPreviousToken() {
        const auto m = handMap(16, [](int64_t, int64_t i, int64_t j) { return (i == 0 || j == i - 1) ? 1.0f : 0.0f; });
        const auto s = headStatistics(m, 1, StatsOptions{});
        QCOMPARE(s.size(), size_t(1));
        QCOMPARE(s[0].rows, int64_t(14));  // positions 2..15 (first_row = 2)
        QCOMPARE(s[0].mean.mean_distance, 1.0);
        QCOMPARE(s[0].mean.sink_mass, 0.0);
        QCOMPARE(s[0].mean.entropy_bits, 0.0);
        QCOMPARE(s[0].mean.prev_token_mass, 1.0);
        QCOMPARE(s[0].mean.local_mass, 1.0);       // distance 1 < 8
        QCOMPARE(s[0].mean.long_range_mass, 0.0);  // nothing beyond 32
        // Mass beyond d: everything is at distance 1.
        const auto beyond = massBeyond(m, {0, 1, 2}, 2);
        QCOMPARE(beyond[0], 1.0);
        QCOMPARE(beyond[1], 0.0);
        QCOMPARE(beyond[2], 0.0);
    }

    // Uniform over the i + 1 visible keys: entropy log2(i + 1), mean distance i / 2, sink 1 / (i + 1).
    void uniformRows() {
        const int64_t T = 40;
        const auto m = handMap(T, [](int64_t, int64_t i, int64_t) { return 1.0f / static_cast<float>(i + 1); });
        StatsOptions o;
        o.local_window = 4;
        o.long_distance = 10;
        for (int64_t i = 0; i < T; ++i) {
            const auto r = rowStatistics(&m.probs[static_cast<size_t>(i * T)], i + 1, i, o);
            const double n = static_cast<double>(i + 1);
            QVERIFY(std::fabs(r.entropy_bits - std::log2(n)) < 1e-5);
            QVERIFY(std::fabs(r.mean_distance - static_cast<double>(i) / 2.0) < 1e-4);
            QVERIFY(std::fabs(r.sink_mass - 1.0 / n) < 1e-6);
            QVERIFY(std::fabs(r.prev_token_mass - (i >= 1 ? 1.0 / n : 0.0)) < 1e-6);
            QVERIFY(std::fabs(r.local_mass - std::min<double>(n, 4.0) / n) < 1e-5);              // distances 0..3
            QVERIFY(std::fabs(r.long_range_mass - std::max<double>(0.0, n - 11.0) / n) < 1e-5);  // distances 11..i
        }
        // The head's mean over rows 2..T-1.
        double want = 0.0;
        for (int64_t i = 2; i < T; ++i) want += std::log2(static_cast<double>(i + 1));
        want /= static_cast<double>(T - 2);
        const auto s = headStatistics(m, 1, StatsOptions{});
        QVERIFY(std::fabs(s[0].mean.entropy_bits - want) < 1e-5);
    }

    // The JS matrix: symmetric, zero diagonal; identical heads 0 bits, disjoint one-hot heads 1 bit; the group
    // means by KV group.
    void jsMatrixByHand() {
        // Heads 0, 1 (group 0) both attend to the previous token; heads 2, 3 (group 1) to the first token.
        const auto m = handMap(
            12,
            [](int64_t h, int64_t i, int64_t j) {
                if (i == 0) return 1.0f;
                return (h < 2 ? j == i - 1 : j == 0) ? 1.0f : 0.0f;
            },
            4);
        const auto d = groupDiversity(m, 2, 2);
        QCOMPARE(d.n(), int64_t(4));
        for (int64_t a = 0; a < 4; ++a) {
            QCOMPARE(d.at(a, a), 0.0);
            for (int64_t b = 0; b < 4; ++b) QCOMPARE(d.at(a, b), d.at(b, a));
        }
        QCOMPARE(d.at(0, 1), 0.0);
        QCOMPARE(d.at(2, 3), 0.0);
        // Rows 2..11: previous token (i - 1 >= 1) and first token are disjoint.
        QVERIFY(std::fabs(d.at(0, 2) - 1.0) < 1e-9);
        QVERIFY(d.mean_within_bits && std::fabs(*d.mean_within_bits) < 1e-12);
        QVERIFY(d.mean_between_bits && std::fabs(*d.mean_between_bits - 1.0) < 1e-9);
        QCOMPARE(d.kv_head, (std::vector<int64_t>{0, 0, 1, 1}));
        // MHA: no pair inside a group; MQA: no pair between groups.
        QVERIFY(!groupDiversity(m, 1, 2).mean_within_bits);
        QVERIFY(!groupDiversity(m, 4, 2).mean_between_bits);
    }

    // ---- the structured synthetic heads have the statistics their roles promise ------------------------------
    void structuredHeadsKeepTheirPromises() {
        auto cfg = findPreset("teaching");
        QVERIFY(cfg.isOk());
        auto m = makeSyntheticModel(*cfg, 1234, WeightsMode::Structured);
        QVERIFY(m.isOk());
        const auto tokens = makeTokens(1, 64, cfg->vocab_size, 1234);
        auto a = analyzeModel(*m_cpu, *m, tokens, AnalyzeOptions{});
        QVERIFY2(a.isOk(), a.isOk() ? "" : a.error().message.c_str());
        QCOMPARE(a->layers.size(), size_t(cfg->n_layers));
        // Uniform attention over the rows averaged (positions 2..63) would have this entropy.
        double uniform = 0.0;
        for (int64_t i = 2; i < 64; ++i) uniform += std::log2(static_cast<double>(i + 1));
        uniform /= 62.0;
        int seen[5] = {};
        for (const auto& la : a->layers) {
            const auto& d = la.diversity;
            for (int64_t x = 0; x < d.n(); ++x)
                for (int64_t y = 0; y < d.n(); ++y) {
                    QCOMPARE(d.at(x, y), d.at(y, x));
                    QVERIFY(d.at(x, y) >= 0.0 && d.at(x, y) <= 1.0 + 1e-9);
                }
            for (const auto& h : la.heads) {
                const auto role = m->head_roles[static_cast<size_t>(la.layer)][static_cast<size_t>(h.head)];
                QCOMPARE(int(h.role), int(role));  // analyzeModel carries each head's role into its statistics
                const QByteArray what =
                    QByteArray("layer ") + QByteArray::number(qint64(la.layer)) + " head " +
                    QByteArray::number(qint64(h.head)) + " " + headRoleName(role) + ": entropy " +
                    QByteArray::number(h.mean.entropy_bits) + " distance " + QByteArray::number(h.mean.mean_distance) +
                    " sink " + QByteArray::number(h.mean.sink_mass) + " prev " +
                    QByteArray::number(h.mean.prev_token_mass) + " local " + QByteArray::number(h.mean.local_mass);
                QCOMPARE(h.kv_head, h.head / cfg->groupSize());
                switch (role) {
                    case HeadRole::PreviousToken:
                        QVERIFY2(h.mean.prev_token_mass > 0.5 && h.mean.mean_distance < 3.0, what);
                        break;
                    case HeadRole::Sink: QVERIFY2(h.mean.sink_mass > 0.5 && h.mean.prev_token_mass < 0.3, what); break;
                    case HeadRole::LocalWindow:
                        QVERIFY2(h.mean.local_mass > 0.6 && h.mean.prev_token_mass < 0.5 && h.mean.mean_distance < 8.0,
                                 what);
                        break;
                    case HeadRole::Broad:
                        QVERIFY2(h.mean.entropy_bits > 0.8 * uniform && h.mean.mean_distance > 8.0, what);
                        break;
                    case HeadRole::Content: break;
                }
                ++seen[int(role)];
            }
        }
        for (int r = 0; r < 4; ++r) QVERIFY(seen[r] > 0);
    }

    // Per decode step: each step's one new row measured on its own, and equal to the statistics of that row of a
    // prefill over the same tokens (the prompt plus the tokens the steps fed).
    void decodeStepStatistics() {
        auto cfg = findPreset("teaching");
        QVERIFY(cfg.isOk());
        auto m = makeSyntheticModel(*cfg, 1234, WeightsMode::Structured);
        QVERIFY(m.isOk());
        const int64_t T = 32, S = 3;
        const auto tokens = makeTokens(1, T, cfg->vocab_size, 7);
        AnalyzeOptions o;
        o.layers = {0, 1};
        o.decode_steps = S;
        auto a = analyzeModel(*m_cpu, *m, tokens, o);
        QVERIFY2(a.isOk(), a.isOk() ? "" : a.error().message.c_str());
        QCOMPARE(a->decode.size(), size_t(S));
        std::vector<int32_t> all = tokens;
        for (const auto& st : a->decode) all.push_back(st.token);
        auto inst = m_cpu->createModel(*m, 1, T + S);
        QVERIFY(inst.isOk());
        StepRequest req;
        req.maps.layers = o.layers;
        StepOutput out;
        QVERIFY((*inst)->prefill(all.data(), T + S, req, out).isOk());
        for (const auto& st : a->decode) {
            QCOMPARE(st.layers.size(), o.layers.size());
            const int64_t pos = T + st.step;
            for (const auto& la : st.layers) {
                const LayerMaps* lm = nullptr;
                for (const auto& x : out.maps)
                    if (x.layer == la.layer) lm = &x;
                QVERIFY(lm);
                for (const auto& h : la.heads) {
                    QCOMPARE(h.rows, int64_t{1});
                    std::vector<float> row(static_cast<size_t>(pos + 1));
                    for (int64_t j = 0; j <= pos; ++j) row[static_cast<size_t>(j)] = lm->at(0, h.head, pos, j);
                    const RowStats want = rowStatistics(row.data(), pos + 1, pos, o.stats);
                    QVERIFY(std::abs(h.mean.entropy_bits - want.entropy_bits) < 1e-4);
                    QVERIFY(std::abs(h.mean.mean_distance - want.mean_distance) < 1e-3);
                    QVERIFY(std::abs(h.mean.prev_token_mass - want.prev_token_mass) < 1e-5);
                    QVERIFY(std::abs(h.mean.sink_mass - want.sink_mass) < 1e-5);
                    if (m->head_roles[static_cast<size_t>(la.layer)][static_cast<size_t>(h.head)] ==
                        HeadRole::PreviousToken)
                        QVERIFY(h.mean.prev_token_mass > 0.5);
                }
            }
        }
        o.decode_steps = cfg->max_seq;  // past max_seq: refused
        QVERIFY(!analyzeModel(*m_cpu, *m, tokens, o).isOk());
    }

    // ---- sliding windows ----------------------------------------------------------------------------------
    void windowedAttentionEqualsReference_data() {
        QTest::addColumn<QString>("isa");
        for (const char* isa : {"generic", "avx2", "avx512", "amx-bf16"})
            if (QString(cpu::kernelsFor(isa).isa) == isa) QTest::newRow(isa) << QString(isa);
    }
    // Every kernel build, windows shorter than, equal to and longer than the context, against ref::attention.
    void windowedAttentionEqualsReference() {
        QFETCH(QString, isa);
        const auto& k = cpu::kernelsFor(isa.toLatin1().constData());
        struct Case {
            int b, hq, hkv, tq, tk, d, w;
            DType t;
        };
        for (const Case c : {Case{1, 8, 2, 100, 100, 64, 17, DType::BF16}, Case{2, 8, 2, 100, 100, 64, 100, DType::F32},
                             Case{1, 8, 1, 1, 700, 128, 130, DType::BF16}, Case{1, 16, 2, 1, 700, 128, 64, DType::F16},
                             Case{1, 4, 4, 9, 300, 64, 1000, DType::F32}, Case{1, 6, 3, 33, 250, 40, 5, DType::BF16}}) {
            const AttentionShape s{c.b, c.hq, c.hkv, c.tq, c.tk, c.d, true, c.w};
            auto in = test::kernelInputs(s, c.t, 15);
            const auto &q = in.q, &kf = in.kf, &vf = in.vf;
            const auto& out = in.out;
            cpu::AttnParams& p = in.p;
            std::vector<float> probs(size_t(c.b * c.hq * c.tq * c.tk), NAN);
            k.attention(p);
            std::vector<int64_t> heads(size_t(c.hq));
            std::iota(heads.begin(), heads.end(), 0);
            k.probabilities(p, heads.data(), c.hq, probs.data());
            std::vector<double> ro(out.size()), rp(probs.size());
            ref::attention(s, q.data(), kf.data(), vf.data(), ro.data(), rp.data());
            const QByteArray what =
                isa.toLatin1() + " w " + QByteArray::number(c.w) + " Tk " + QByteArray::number(c.tk);
            QVERIFY2(test::worstRatio(out, ro, 2e-5, 2e-4) <= 1.0, what);
            QVERIFY2(test::worstRatio(probs, rp, 2e-5, 2e-4) <= 1.0, what);
            // Keys outside the band get exactly 0.
            for (int64_t i = 0; i < c.tq; ++i)
                for (int64_t j = 0; j < c.tk; ++j) {
                    const int64_t pos = i + c.tk - c.tq;
                    if (j <= pos - c.w || j > pos) QCOMPARE(probs[size_t(i * c.tk + j)], 0.0f);
                }
        }
        // A window without the causal mask is refused.
        std::vector<float> x(64 * 64);
        QCOMPARE(
            m_cpu->attention({1, 4, 4, 8, 8, 8, false, 4}, x.data(), x.data(), x.data(), DType::F32, x.data(), nullptr)
                .code(),
            ErrorCode::InvalidArgument);
    }

    // Decode past w on the rolling cache equals a full recompute with the window mask: hidden state, logits and
    // the decode maps (absolute key positions, zeros outside the band); the cache keeps the last w positions.
    // Per-layer windows (w0, w1; 0 = full attention) mix a rolling cache with a full one in one model.
    void rollingCacheDecodePastWindow_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<qint64>("w0");
        QTest::addColumn<qint64>("w1");
        QTest::newRow("fp32") << int(DType::F32) << qint64(6) << qint64(6);
        QTest::newRow("bf16") << int(DType::BF16) << qint64(6) << qint64(6);
        QTest::newRow("fp32 per layer 6, full") << int(DType::F32) << qint64(6) << qint64(0);
        QTest::newRow("bf16 per layer full, 3") << int(DType::BF16) << qint64(0) << qint64(3);
    }
    void rollingCacheDecodePastWindow() {
        QFETCH(int, dtype);
        QFETCH(qint64, w0);
        QFETCH(qint64, w1);
        const DType t = static_cast<DType>(dtype);
        const int64_t B = 2, P = 10, steps = 12, ctx = P + steps;
        auto cfg = smallConfig(std::max(w0, w1), t);
        if (w0 != w1) cfg.layer_windows = {w0, w1};
        QCOMPARE(cfg.windowOf(0), int64_t(w0));
        QCOMPARE(cfg.windowOf(1), int64_t(w1));
        auto m = makeSyntheticModel(cfg, 3, WeightsMode::Random);
        QVERIFY(m.isOk());
        auto inst = m_cpu->createModel(*m, B, ctx);
        QVERIFY(inst.isOk());
        // Each layer's cache is a rolling buffer of its w positions (ctx without a window):
        // 2 * batch * n_kv * head_dim * bytes * (held0 + held1).
        const int64_t eb = int64_t(bytesPerElement(t));
        auto held = [&](int64_t w) { return w > 0 ? std::min(w, ctx) : ctx; };
        QCOMPARE((*inst)->allocation().kv_cache_bytes, 2 * B * 2 * 32 * eb * (held(w0) + held(w1)));
        QCOMPARE((*inst)->allocation().kv_cache_bytes, estimateMemory(cfg, B, ctx).kv_cache_bytes);
        const auto all = makeTokens(B, ctx, cfg.vocab_size, 8);
        auto slice = [&](int64_t n0, int64_t n1) {
            std::vector<int32_t> r;
            for (int64_t b = 0; b < B; ++b)
                for (int64_t i = n0; i < n1; ++i) r.push_back(all[size_t(b * ctx + i)]);
            return r;
        };
        StepRequest req;
        StepOutput out;
        const auto prompt = slice(0, P);
        QVERIFY((*inst)->prefill(prompt.data(), P, req, out).isOk());  // 10 > w: wraps inside the prefill
        const double tol = t == DType::F32 ? 2e-4 : 4 * 0x1p-7;
        for (int64_t s = 0; s < steps; ++s) {
            const auto tok = slice(P + s, P + s + 1);
            StepRequest dreq;
            dreq.logits = LogitsMode::Last;
            dreq.maps.layers = {0, 1};
            StepOutput d;
            QVERIFY((*inst)->decode(tok.data(), dreq, d).isOk());
            const int64_t len = P + s + 1;
            const auto full = ref::forward(*m, slice(0, len), B, len, t, true, true);
            std::vector<double> hid, lg;
            for (int64_t b = 0; b < B; ++b) {
                hid.insert(hid.end(), full.hidden.begin() + (b * len + len - 1) * cfg.d_model,
                           full.hidden.begin() + (b * len + len) * cfg.d_model);
                lg.insert(lg.end(), full.logits.begin() + (b * len + len - 1) * cfg.vocab_size,
                          full.logits.begin() + (b * len + len) * cfg.vocab_size);
            }
            QVERIFY2(test::worstRatio(d.hidden, hid, tol, tol) <= 1.0, qPrintable(QString("step %1").arg(s)));
            QVERIFY2(test::worstRatio(d.logits, lg, tol, tol) <= 1.0, qPrintable(QString("step %1").arg(s)));
            for (int64_t l = 0; l < 2; ++l) {
                const auto& mp = d.maps[size_t(l)];
                QCOMPARE(mp.kv_len, len);
                std::vector<double> want;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t h = 0; h < cfg.n_q_heads; ++h) {
                        const auto row =
                            full.probs[size_t(l)].begin() + ((b * cfg.n_q_heads + h) * len + len - 1) * len;
                        want.insert(want.end(), row, row + len);
                    }
                // fp32: rounding only; bf16: the cache's rounding carried through the layers, as in `verify`.
                QVERIFY(test::worstRatio(mp.probs, want, t == DType::F32 ? 2e-5 : tol, t == DType::F32 ? 2e-4 : tol) <=
                        1.0);
                const int64_t w = cfg.windowOf(l);
                if (w > 0)
                    for (int64_t j = 0; j <= len - 1 - w; ++j) QCOMPARE(mp.at(0, 0, 0, j), 0.0f);
            }
        }
        // readKvCache: each layer's last held positions, oldest first, as the reference computed them.
        const auto full = ref::forward(*m, slice(0, ctx), B, ctx, t, false, true);
        for (int64_t l = 0; l < 2; ++l) {
            std::vector<float> k, v;
            QVERIFY((*inst)->readKvCache(l, k, v).isOk());
            const int64_t n = held(cfg.windowOf(l));
            QCOMPARE(k.size(), size_t(B * 2 * n * 32));
            std::vector<float> want;
            for (int64_t bh = 0; bh < B * 2; ++bh)
                for (int64_t i = ctx - n; i < ctx; ++i)
                    for (int64_t e = 0; e < 32; ++e) want.push_back(full.k[size_t(l)][size_t((bh * ctx + i) * 32 + e)]);
            QVERIFY(test::worstRatio(k, want, tol, tol) <= 1.0);
        }
    }

    // KV bytes with a window: 2 * layers * batch * min(T, w) * n_kv * head_dim * bytes.
    void kvBytesWithWindow() {
        auto mistral = findPreset("mistral-7b");
        QVERIFY(mistral.isOk());
        QCOMPARE(mistral->sliding_window, int64_t(4096));  // the published config.json
        // 32 layers, 8 KV heads, head_dim 128, bf16: 2 * 32 * 8 * 128 * 2 = 131072 bytes per token.
        QCOMPARE(estimateMemory(*mistral, 2, 32768).kv_cache_bytes, int64_t(131072) * 2 * 4096);
        QCOMPARE(estimateMemory(*mistral, 2, 1000).kv_cache_bytes, int64_t(131072) * 2 * 1000);
        QCOMPARE(estimateMemory(*mistral, 1, 32768).kv_positions, int64_t(4096));
        ModelConfig none = *mistral;
        none.sliding_window = 0;
        QCOMPARE(estimateMemory(none, 2, 32768).kv_cache_bytes, int64_t(131072) * 2 * 32768);
        // The longest context that fits grows past what the full cache allows.
        const int64_t mem = int64_t(24) << 30;
        QVERIFY(maxContextThatFits(*mistral, 1, mem) > maxContextThatFits(none, 1, mem));
        // What a CPU instance allocates is what the model predicts.
        auto cfg = smallConfig(5, DType::BF16);
        auto m = makeSyntheticModel(cfg, 1, WeightsMode::Random);
        QVERIFY(m.isOk());
        auto inst = m_cpu->createModel(*m, 3, 40);
        QVERIFY(inst.isOk());
        const auto est = estimateMemory(cfg, 3, 40);
        QCOMPARE((*inst)->allocation().kv_cache_bytes, 2 * 2 * 3 * 5 * 2 * 32 * 2);
        QCOMPARE((*inst)->allocation().kv_cache_bytes, est.kv_cache_bytes);
        QCOMPARE((*inst)->allocation().activation_bytes, est.activation_bytes);
    }

    // The cost model counts only the band.
    void costFollowsTheWindow() {
        QCOMPARE(attentionPairs(4, 4, true, 2), int64_t(1 + 2 + 2 + 2));
        QCOMPARE(attentionPairs(1, 100, true, 10), int64_t(10));
        QCOMPARE(attentionPairs(4, 4, true, 0), int64_t(10));
        QCOMPARE(attentionKeysRead(1, 1000, 64), int64_t(64));
        QCOMPARE(attentionKeysRead(16, 1000, 64), int64_t(79));
        auto c = smallConfig(0, DType::BF16);
        const double full = layerOpCosts(c, 0, 1, 1, 4096, 2.0)[int(Op::Attention)].bytes;
        c.sliding_window = 256;
        const double win = layerOpCosts(c, 0, 1, 1, 4096, 2.0)[int(Op::Attention)].bytes;
        // K/V read: 2 * n_kv * keys * head_dim * 2 bytes; the rest (q, out, new K/V) is the same.
        QCOMPARE(full - win, 2.0 * 2 * (4096 - 256) * 32 * 2);
        // Per-layer windows: 5 layers of the pattern (256, 0) are 3 windowed and 2 full layers.
        c.n_layers = 5;
        c.layer_windows = {256, 0};
        QCOMPARE(layerOpCosts(c, 2, 1, 1, 4096, 2.0)[int(Op::Attention)].bytes, win);
        QCOMPARE(layerOpCosts(c, 3, 1, 1, 4096, 2.0)[int(Op::Attention)].bytes, full);
        Ceilings ceil;
        ceil.mem_bw_bytes_per_s = 1e10;
        ceil.gemm_flops_per_s = 1e11;
        const auto sum = modelOpCosts(c, 5, 1, 1, 4096, 2.0, ceil);
        QCOMPARE(sum.cost[int(Op::Attention)].bytes, 3 * win + 2 * full);
        QCOMPARE(sum.roofline_ms[int(Op::Attention)], 1e3 * (3 * win + 2 * full) / 1e10);  // memory-bound decode
        // Only the first 2 layers: one of each.
        QCOMPARE(modelOpCosts(c, 2, 1, 1, 4096, 2.0, ceil).cost[int(Op::Attention)].bytes, win + full);
    }

    // Per-layer windows survive config.json (transformers' layer_types); configs that cannot hold them refuse.
    void layerWindowsSaveAndLoad() {
        // A synthetic model of cfg saved to a fresh directory, and the config read back from it (or the error).
        auto saveAndLoad = [](const ModelConfig& cfg) -> Expected<ModelConfig> {
            auto m = makeSyntheticModel(cfg, 2, WeightsMode::Random);
            if (!m) return m.error();
            QTemporaryDir dir;
            GQA_TRY(saveHfModel(*m, dir.path().toStdString()));
            auto back = loadModel(dir.path().toStdString());
            if (!back) return back.error();
            return back->config;
        };
        auto cfg = smallConfig(8, DType::F32);
        cfg.architecture = "MistralForCausalLM";
        cfg.layer_windows = {8, 0};
        auto pattern = saveAndLoad(cfg);
        QVERIFY2(pattern.isOk(), pattern.isOk() ? "" : pattern.error().message.c_str());
        QCOMPARE(pattern->windowOf(0), int64_t(8));
        QCOMPARE(pattern->windowOf(1), int64_t(0));
        cfg.layer_windows.clear();  // every layer slides
        auto uniform = saveAndLoad(cfg);
        QVERIFY2(uniform.isOk(), uniform.isOk() ? "" : uniform.error().message.c_str());
        QCOMPARE(uniform->windowOf(0), int64_t(8));
        QCOMPARE(uniform->windowOf(1), int64_t(8));
        // Different sizes per layer, or a window on a Llama config, cannot be written: refused, nothing lost.
        cfg.layer_windows = {8, 4};
        QVERIFY(!saveAndLoad(cfg).isOk());
        cfg.architecture = "LlamaForCausalLM";
        cfg.layer_windows.clear();
        const auto llama = saveAndLoad(cfg);
        QVERIFY(!llama.isOk());
        QVERIFY(llama.error().message.find("Llama config.json has no sliding window") != std::string::npos);
    }

    // KV bytes with per-layer windows: 2 * batch * n_kv * head_dim * bytes * sum over layers of min(T, w_l).
    void kvBytesWithLayerWindows() {
        auto c = smallConfig(0, DType::BF16);  // 2 KV heads, head_dim 32, bf16
        c.n_layers = 7;
        c.layer_windows = {100, 100, 0};  // layers 0 1 3 4 6 slide (window 100), 2 and 5 are full
        c.sliding_window = 100;
        const int64_t per_pos = 2 * 2 * 32 * 2;  // K and V, 2 heads, 32 dims, 2 bytes
        QCOMPARE(estimateMemory(c, 3, 1000).kv_cache_bytes, per_pos * 3 * (5 * 100 + 2 * 1000));
        QCOMPARE(estimateMemory(c, 3, 1000).kv_layer_positions, int64_t(5 * 100 + 2 * 1000));
        QCOMPARE(estimateMemory(c, 3, 1000).kv_positions, int64_t(1000));     // the largest layer cache
        QCOMPARE(estimateMemory(c, 1, 50).kv_cache_bytes, per_pos * 7 * 50);  // shorter than the window
        QCOMPARE(c.windowText(), std::string("100 on 5 of 7 layers"));
        QVERIFY(c.hasWindow());
        QVERIFY(c.hasWindow(2));
        c.layer_windows = {0, 100};
        QVERIFY(!c.hasWindow(1));  // the first layer alone sees everything
        c.layer_windows = {0};
        QVERIFY(!c.hasWindow());
        QCOMPARE(c.windowText(), std::string("none"));
        // GQA and the window multiply: MHA (8 KV heads) without a window against 2 KV heads with it.
        auto mha = c;
        mha.n_kv_heads = 8;
        mha.layer_windows.clear();
        mha.sliding_window = 0;
        c.layer_windows = {100};
        QCOMPARE(estimateMemory(mha, 1, 1000).kv_cache_bytes / estimateMemory(c, 1, 1000).kv_cache_bytes,
                 int64_t(4 * 10));
        // A negative window is refused with the layer named.
        c.layer_windows = {100, -1};
        QVERIFY(!c.validate().isOk());
        QVERIFY(c.validate().message().find("layer 1") != std::string::npos);
    }

    // ---- tensor parallelism -------------------------------------------------------------------------------
    void tensorParallel_data() {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<qint64>("t");
        QTest::addColumn<qint64>("q_per_gpu");
        QTest::addColumn<qint64>("kv_per_gpu");
        QTest::addColumn<qint64>("replication");
        QTest::addColumn<qint64>("kv_bytes_per_token");
        QTest::addColumn<qint64>("weight_bytes");
        // DeepSeek LLM 67B: 95 layers, d 8192, 64/8 heads of 128, FFN 22016, vocab 102400, bf16 (norms fp32).
        // KV per token per GPU: 2 * 95 * kv_per_gpu * 128 * 2 = 48640 * kv_per_gpu.
        // Weights per GPU: 95 * (2 * [8192 * (64/t * 128 + 2 * kv * 128) + 64/t * 128 * 8192 + 3 * 8192 * 22016/t]
        //                  + 4 * 2 * 8192) + 2 * 2 * ceil(102400/t) * 8192 + 4 * 8192.
        // t = 8: 95 * (2 * [10485760 + 8388608 + 67633152] + 65536) + 2 * 2 * 12800 * 8192 + 32768 = 16862117888.
        QTest::newRow("deepseek-67b t1") << "deepseek-llm-67b" << 1ll << 64ll << 8ll << 1ll << 389120ll
                                         << 134853132288ll;
        QTest::newRow("deepseek-67b t2") << "deepseek-llm-67b" << 2ll << 32ll << 4ll << 1ll << 194560ll
                                         << 67429695488ll;
        QTest::newRow("deepseek-67b t4") << "deepseek-llm-67b" << 4ll << 16ll << 2ll << 1ll << 97280ll << 33717977088ll;
        QTest::newRow("deepseek-67b t8") << "deepseek-llm-67b" << 8ll << 8ll << 1ll << 1ll << 48640ll << 16862117888ll;
        // t = 16 > 8 KV heads: each GPU keeps one KV head, each KV head lives on 2 GPUs.
        QTest::newRow("deepseek-67b t16") << "deepseek-llm-67b" << 16ll << 4ll << 1ll << 2ll << 48640ll << 8633417728ll;
        // Llama-3-70B: 80 layers, d 8192, 64/8 heads of 128, FFN 28672, vocab 128256.
        // KV per token per GPU: 2 * 80 * kv * 128 * 2 = 40960 * kv. t = 8: 80 * (2 * [8192 * 1280 + 1024 * 8192 +
        // 3 * 8192 * 3584] + 65536) + 2 * 2 * 16032 * 8192 + 32768 = 17643372544.
        QTest::newRow("llama-3-70b t1") << "llama-3-70b" << 1ll << 64ll << 8ll << 1ll << 327680ll << 141110050816ll;
        QTest::newRow("llama-3-70b t2") << "llama-3-70b" << 2ll << 32ll << 4ll << 1ll << 163840ll << 70557663232ll;
        QTest::newRow("llama-3-70b t4") << "llama-3-70b" << 4ll << 16ll << 2ll << 1ll << 81920ll << 35281469440ll;
        QTest::newRow("llama-3-70b t8") << "llama-3-70b" << 8ll << 8ll << 1ll << 1ll << 40960ll << 17643372544ll;
        QTest::newRow("llama-3-70b t16") << "llama-3-70b" << 16ll << 4ll << 1ll << 2ll << 40960ll << 8992096256ll;
    }
    void tensorParallel() {
        QFETCH(QString, preset);
        QFETCH(qint64, t);
        QFETCH(qint64, q_per_gpu);
        QFETCH(qint64, kv_per_gpu);
        QFETCH(qint64, replication);
        QFETCH(qint64, kv_bytes_per_token);
        QFETCH(qint64, weight_bytes);
        auto c = findPreset(preset.toStdString());
        QVERIFY(c.isOk());
        const int64_t gpu = int64_t(80) << 30;
        const auto p = planTensorParallel(*c, t, 1, 4096, gpu);
        QVERIFY2(p.valid, p.reason.c_str());
        QCOMPARE(p.q_heads_per_gpu, q_per_gpu);
        QCOMPARE(p.kv_heads_per_gpu, kv_per_gpu);
        QCOMPARE(p.kv_replication, replication);
        QCOMPARE(p.kv_bytes_per_token_per_gpu, kv_bytes_per_token);
        QCOMPARE(p.kv_cache_bytes_per_gpu, kv_bytes_per_token * 4096);
        QCOMPARE(p.weight_bytes_per_gpu, weight_bytes);
        // The longest context fits one GPU and one more token does not (or none fits at all).
        const auto budget = static_cast<int64_t>(static_cast<double>(gpu) * 0.9);
        if (p.max_context_per_gpu > 0) {
            QVERIFY(estimateMemory(p.shard, 1, p.max_context_per_gpu).total_bytes <= budget);
            QVERIFY(estimateMemory(p.shard, 1, p.max_context_per_gpu + 1).total_bytes > budget);
        } else {
            QVERIFY(weight_bytes > budget);  // t = 1: 134.9 / 141.1 GB of weights alone exceed 80 GiB
        }
    }
    void tensorParallelInvalidDegrees() {
        auto c = findPreset("deepseek-llm-67b");
        QVERIFY(c.isOk());
        const auto sweep = tensorParallelSweep(*c, 1, 4096, int64_t(80) << 30);
        QCOMPARE(sweep.size(), size_t(64));
        int valid = 0;
        for (const auto& p : sweep) valid += p.valid ? 1 : 0;
        QCOMPARE(valid, 7);        // 1, 2, 4, 8, 16, 32, 64: the divisors of 64 query heads
        QVERIFY(!sweep[2].valid);  // t = 3
        QVERIFY(sweep[2].reason.find("n_q_heads (64) is not divisible by t = 3") != std::string::npos);
        QCOMPARE(sweep[63].kv_replication, int64_t(8));  // t = 64: each of the 8 KV heads on 8 GPUs
        QVERIFY(!planTensorParallel(*c, 65, 1, 4096, 0).valid);
        // Qwen2.5-7B: 28 query heads, 4 KV heads; t = 7 divides 28 but neither divides nor is a multiple of 4.
        auto q = findPreset("qwen2.5-7b");
        QVERIFY(q.isOk());
        const auto p7 = planTensorParallel(*q, 7, 1, 4096, 0);
        QVERIFY(!p7.valid);
        QVERIFY(p7.reason.find("multiple of n_kv_heads (4)") != std::string::npos);
    }

private:
    std::unique_ptr<Backend> m_cpu;
};

QTEST_APPLESS_MAIN(TestAnalysis)
#include "tst_analysis.moc"
