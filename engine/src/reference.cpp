// Naive double-precision references. Deliberately simple loops: they are the ground truth.
#include "gqa/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gqa::ref {

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, double* out, double* probs) {
    const int64_t g = s.n_q_heads / s.n_kv_heads, D = s.head_dim;
    const int64_t off = s.kv_len - s.q_len;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    std::vector<double> sc(static_cast<size_t>(s.kv_len));
    for (int64_t b = 0; b < s.batch; ++b)
        for (int64_t h = 0; h < s.n_q_heads; ++h) {
            const int64_t kvh = h / g;  // query head h reads KV head h / g
            for (int64_t i = 0; i < s.q_len; ++i) {
                const float* qi = q + ((b * s.n_q_heads + h) * s.q_len + i) * D;
                double mx = -std::numeric_limits<double>::infinity();
                for (int64_t j = 0; j < s.kv_len; ++j) {
                    // Causal: j <= i + off; a sliding window w also needs j > i + off - w.
                    if ((s.causal && j > i + off) || (s.window > 0 && j <= i + off - s.window)) {
                        sc[static_cast<size_t>(j)] = -std::numeric_limits<double>::infinity();
                        continue;
                    }
                    const float* kj = k + ((b * s.n_kv_heads + kvh) * s.kv_len + j) * D;
                    double acc = 0.0;
                    for (int64_t e = 0; e < D; ++e) acc += static_cast<double>(qi[e]) * kj[e];
                    sc[static_cast<size_t>(j)] = acc * scale;
                    mx = std::max(mx, acc * scale);
                }
                double sum = 0.0;
                for (int64_t j = 0; j < s.kv_len; ++j) {
                    const double e =
                        std::isinf(sc[static_cast<size_t>(j)]) ? 0.0 : std::exp(sc[static_cast<size_t>(j)] - mx);
                    sc[static_cast<size_t>(j)] = e;
                    sum += e;
                }
                double* o = out + ((b * s.n_q_heads + h) * s.q_len + i) * D;
                for (int64_t e = 0; e < D; ++e) o[e] = 0.0;
                for (int64_t j = 0; j < s.kv_len; ++j) {
                    const double p = sum > 0 ? sc[static_cast<size_t>(j)] / sum : 0.0;
                    if (probs) probs[((b * s.n_q_heads + h) * s.q_len + i) * s.kv_len + j] = p;
                    const float* vj = v + ((b * s.n_kv_heads + kvh) * s.kv_len + j) * D;
                    for (int64_t e = 0; e < D; ++e) o[e] += p * vj[e];
                }
            }
        }
}

void rmsNorm(const double* x, const float* gamma, int64_t n, double eps, double* y) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * gamma[i];
}

void rope(double* x, int64_t head_dim, int64_t pos, const std::vector<double>& inv_freq) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        const double ang = static_cast<double>(pos) * inv_freq[static_cast<size_t>(i)];
        const double c = std::cos(ang), s = std::sin(ang);
        const double a = x[i], b = x[i + half];
        x[i] = a * c - b * s;
        x[i + half] = a * s + b * c;
    }
}

double silu(double x) {
    return x / (1.0 + std::exp(-x));
}

std::vector<float> dequantize(const Tensor& t) {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1, cols = t.cols();
    for (int64_t r = 0; r < rows; ++r) loadAsFloat(t.dtype, t.row(r), v.data() + r * cols, cols);
    return v;
}

namespace {
// y (out) = W (out x in) x (in), row-major W as stored in the model, plus an optional bias.
void matvec(const std::vector<float>& w, const double* x, int64_t in, int64_t out, double* y,
            const std::vector<float>* bias = nullptr) {
    for (int64_t o = 0; o < out; ++o) {
        const float* row = w.data() + o * in;
        double acc = bias ? (*bias)[static_cast<size_t>(o)] : 0.0;
        for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(row[i]) * x[i];
        y[o] = acc;
    }
}
}  // namespace

Forward forward(const Model& m, const std::vector<int32_t>& tokens, int64_t batch, int64_t T, DType kv_dtype,
                bool logits, bool capture) {
    const auto& c = m.config;
    const int64_t d = c.d_model, D = c.head_dim, hq = c.n_q_heads, hkv = c.n_kv_heads, F = c.ffn_dim;
    const int64_t cols = (hq + 2 * hkv) * D, V = c.vocab_size;
    const auto inv_freq = ropeInverseFrequencies(c);
    Forward res;
    res.hidden.resize(static_cast<size_t>(batch * T * d));
    if (logits) res.logits.resize(static_cast<size_t>(batch * T * V));
    if (capture) {
        res.k.assign(m.layers.size(), std::vector<float>(static_cast<size_t>(batch * hkv * T * D)));
        res.v = res.k;
        res.probs.assign(m.layers.size(), std::vector<double>(static_cast<size_t>(batch * hq * T * T)));
    }
    const auto emb = dequantize(m.embedding);
    const auto fnorm = dequantize(m.final_norm);
    struct L {
        std::vector<float> an, wq, wk, wv, bq, bk, bv, wo, fn, wg, wu, wd;
    };
    std::vector<L> layers;
    for (const auto& lt : m.layers) {
        L l{dequantize(lt.attn_norm),
            dequantize(lt.wq),
            dequantize(lt.wk),
            dequantize(lt.wv),
            {},
            {},
            {},
            dequantize(lt.wo),
            dequantize(lt.ffn_norm),
            dequantize(lt.w_gate),
            dequantize(lt.w_up),
            dequantize(lt.w_down)};
        if (c.qkv_bias) {
            l.bq = dequantize(lt.bq);
            l.bk = dequantize(lt.bk);
            l.bv = dequantize(lt.bv);
        }
        layers.push_back(std::move(l));
    }
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<double> x(static_cast<size_t>(T * d));
        for (int64_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < d; ++i)
                x[static_cast<size_t>(t * d + i)] =
                    emb[static_cast<size_t>(tokens[static_cast<size_t>(b * T + t)] * d + i)];
        std::vector<double> xn(static_cast<size_t>(d)), qkv(static_cast<size_t>(T * cols)), tmp(static_cast<size_t>(d));
        for (size_t li = 0; li < layers.size(); ++li) {
            const L& lw = layers[li];
            for (int64_t t = 0; t < T; ++t) {
                rmsNorm(&x[static_cast<size_t>(t * d)], lw.an.data(), d, c.norm_eps, xn.data());
                double* row = &qkv[static_cast<size_t>(t * cols)];
                matvec(lw.wq, xn.data(), d, hq * D, row, c.qkv_bias ? &lw.bq : nullptr);
                matvec(lw.wk, xn.data(), d, hkv * D, row + hq * D, c.qkv_bias ? &lw.bk : nullptr);
                matvec(lw.wv, xn.data(), d, hkv * D, row + (hq + hkv) * D, c.qkv_bias ? &lw.bv : nullptr);
                for (int64_t h = 0; h < hq + hkv; ++h) rope(row + h * D, D, t, inv_freq);
                // The cache stores K and V in kv_dtype.
                for (int64_t e = hq * D; e < cols; ++e) row[e] = roundTo(kv_dtype, static_cast<float>(row[e]));
            }
            // Causal GQA attention over the whole sequence (within the model's sliding window, if any).
            std::vector<float> q(static_cast<size_t>(hq * T * D)), k(static_cast<size_t>(hkv * T * D)), v(k.size());
            for (int64_t t = 0; t < T; ++t) {
                for (int64_t h = 0; h < hq; ++h)
                    for (int64_t e = 0; e < D; ++e)
                        q[static_cast<size_t>((h * T + t) * D + e)] =
                            static_cast<float>(qkv[static_cast<size_t>(t * cols + h * D + e)]);
                for (int64_t h = 0; h < hkv; ++h)
                    for (int64_t e = 0; e < D; ++e) {
                        k[static_cast<size_t>((h * T + t) * D + e)] =
                            static_cast<float>(qkv[static_cast<size_t>(t * cols + (hq + h) * D + e)]);
                        v[static_cast<size_t>((h * T + t) * D + e)] =
                            static_cast<float>(qkv[static_cast<size_t>(t * cols + (hq + hkv + h) * D + e)]);
                    }
            }
            AttentionShape s{1, hq, hkv, T, T, D, true, c.windowOf(static_cast<int64_t>(li))};
            std::vector<double> att(static_cast<size_t>(hq * T * D));
            if (capture) {
                std::copy(k.begin(), k.end(), res.k[li].begin() + b * hkv * T * D);
                std::copy(v.begin(), v.end(), res.v[li].begin() + b * hkv * T * D);
            }
            attention(s, q.data(), k.data(), v.data(), att.data(),
                      capture ? res.probs[li].data() + b * hq * T * T : nullptr);
            std::vector<double> row(static_cast<size_t>(hq * D)), gate(static_cast<size_t>(F)),
                up(static_cast<size_t>(F));
            for (int64_t t = 0; t < T; ++t) {
                for (int64_t h = 0; h < hq; ++h)
                    for (int64_t e = 0; e < D; ++e)
                        row[static_cast<size_t>(h * D + e)] = att[static_cast<size_t>((h * T + t) * D + e)];
                matvec(lw.wo, row.data(), hq * D, d, tmp.data());
                for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(t * d + i)] += tmp[static_cast<size_t>(i)];
                rmsNorm(&x[static_cast<size_t>(t * d)], lw.fn.data(), d, c.norm_eps, xn.data());
                matvec(lw.wg, xn.data(), d, F, gate.data());
                matvec(lw.wu, xn.data(), d, F, up.data());
                for (int64_t f = 0; f < F; ++f)
                    gate[static_cast<size_t>(f)] = silu(gate[static_cast<size_t>(f)]) * up[static_cast<size_t>(f)];
                matvec(lw.wd, gate.data(), F, d, tmp.data());
                for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(t * d + i)] += tmp[static_cast<size_t>(i)];
            }
        }
        for (int64_t t = 0; t < T; ++t)
            rmsNorm(&x[static_cast<size_t>(t * d)], fnorm.data(), d, c.norm_eps,
                    &res.hidden[static_cast<size_t>((b * T + t) * d)]);
    }
    if (logits) {
        const auto head = m.lm_head.empty() ? emb : dequantize(m.lm_head);
        for (int64_t n = 0; n < batch * T; ++n)
            matvec(head, &res.hidden[static_cast<size_t>(n * d)], d, V, &res.logits[static_cast<size_t>(n * V)]);
    }
    return res;
}

}  // namespace gqa::ref
