// Naive double-precision references. Deliberately simple loops: they are the ground truth.
#include "gqa/reference.h"

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
                    if (s.causal && j > i + off) {
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
                    const double e = std::isinf(sc[static_cast<size_t>(j)]) ? 0.0 : std::exp(sc[static_cast<size_t>(j)] - mx);
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

void rope(double* x, int64_t head_dim, int64_t pos, double theta) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        const double ang = static_cast<double>(pos) * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
        const double c = std::cos(ang), s = std::sin(ang);
        const double a = x[i], b = x[i + half];
        x[i] = a * c - b * s;
        x[i + half] = a * s + b * c;
    }
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

namespace {
// y (n) = x (k) W (k x n), row-major W.
void matvec(const double* x, const std::vector<float>& w, int64_t k, int64_t n, double* y) {
    for (int64_t j = 0; j < n; ++j) y[j] = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        const double xi = x[i];
        const float* row = w.data() + i * n;
        for (int64_t j = 0; j < n; ++j) y[j] += xi * row[j];
    }
}
}  // namespace

std::vector<double> forward(const ModelWeights& w, const std::vector<int32_t>& tokens, int64_t batch, int64_t T,
                            DType kv_dtype) {
    const auto& c = w.config;
    const int64_t d = c.d_model, D = c.head_dim, hq = c.n_q_heads, hkv = c.n_kv_heads, F = c.ffn_dim;
    const int64_t cols = (hq + 2 * hkv) * D;
    std::vector<double> out(static_cast<size_t>(batch * T * d));
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<double> x(static_cast<size_t>(T * d));
        for (int64_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < d; ++i)
                x[static_cast<size_t>(t * d + i)] = w.embedding[static_cast<size_t>(tokens[static_cast<size_t>(b * T + t)] * d + i)];
        std::vector<double> xn(static_cast<size_t>(d)), qkv(static_cast<size_t>(T * cols)), tmp(static_cast<size_t>(d));
        for (const auto& lw : w.layers) {
            for (int64_t t = 0; t < T; ++t) {
                rmsNorm(&x[static_cast<size_t>(t * d)], lw.attn_norm.data(), d, c.norm_eps, xn.data());
                matvec(xn.data(), lw.wqkv, d, cols, &qkv[static_cast<size_t>(t * cols)]);
                for (int64_t h = 0; h < hq + hkv; ++h) rope(&qkv[static_cast<size_t>(t * cols + h * D)], D, t, c.rope_theta);
                // The cache stores K and V in kv_dtype.
                for (int64_t e = hq * D; e < cols; ++e) {
                    auto& val = qkv[static_cast<size_t>(t * cols + e)];
                    val = roundTo(kv_dtype, static_cast<float>(val));
                }
            }
            // Causal GQA attention over the whole sequence.
            std::vector<float> q(static_cast<size_t>(hq * T * D)), k(static_cast<size_t>(hkv * T * D)), v(k.size());
            for (int64_t t = 0; t < T; ++t) {
                for (int64_t h = 0; h < hq; ++h)
                    for (int64_t e = 0; e < D; ++e)
                        q[static_cast<size_t>((h * T + t) * D + e)] = static_cast<float>(qkv[static_cast<size_t>(t * cols + h * D + e)]);
                for (int64_t h = 0; h < hkv; ++h)
                    for (int64_t e = 0; e < D; ++e) {
                        k[static_cast<size_t>((h * T + t) * D + e)] = static_cast<float>(qkv[static_cast<size_t>(t * cols + (hq + h) * D + e)]);
                        v[static_cast<size_t>((h * T + t) * D + e)] = static_cast<float>(qkv[static_cast<size_t>(t * cols + (hq + hkv + h) * D + e)]);
                    }
            }
            AttentionShape s{1, hq, hkv, T, T, D, true};
            std::vector<double> att(static_cast<size_t>(hq * T * D));
            attention(s, q.data(), k.data(), v.data(), att.data(), nullptr);
            std::vector<double> row(static_cast<size_t>(hq * D)), gu(static_cast<size_t>(2 * F)), hbuf(static_cast<size_t>(F));
            for (int64_t t = 0; t < T; ++t) {
                for (int64_t h = 0; h < hq; ++h)
                    for (int64_t e = 0; e < D; ++e) row[static_cast<size_t>(h * D + e)] = att[static_cast<size_t>((h * T + t) * D + e)];
                matvec(row.data(), lw.wo, hq * D, d, tmp.data());
                for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(t * d + i)] += tmp[static_cast<size_t>(i)];
                rmsNorm(&x[static_cast<size_t>(t * d)], lw.ffn_norm.data(), d, c.norm_eps, xn.data());
                matvec(xn.data(), lw.w_gate_up, d, 2 * F, gu.data());
                for (int64_t f = 0; f < F; ++f) hbuf[static_cast<size_t>(f)] = silu(gu[static_cast<size_t>(f)]) * gu[static_cast<size_t>(F + f)];
                matvec(hbuf.data(), lw.w_down, F, d, tmp.data());
                for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(t * d + i)] += tmp[static_cast<size_t>(i)];
            }
        }
        for (int64_t t = 0; t < T; ++t)
            rmsNorm(&x[static_cast<size_t>(t * d)], w.final_norm.data(), d, c.norm_eps, &out[static_cast<size_t>((b * T + t) * d)]);
    }
    return out;
}

}  // namespace gqa::ref
