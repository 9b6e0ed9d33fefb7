#include "gqa/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rng.h"

namespace gqa {

Sampler::Sampler(const SamplingOptions& o) : m_opt(o), m_state(mixSeed(o.seed, 0x5A3D1E)) {}

int32_t Sampler::next(const float* logits, int64_t vocab) {
    if (!(m_opt.temperature > 0.0)) {
        int32_t best = 0;
        for (int64_t i = 1; i < vocab; ++i)
            if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
        return best;
    }
    auto& c = m_scratch;
    c.resize(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) c[static_cast<size_t>(i)] = {logits[i], static_cast<int32_t>(i)};
    auto desc = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t keep = c.size();
    if (m_opt.top_k > 0 && static_cast<size_t>(m_opt.top_k) < keep) {
        keep = static_cast<size_t>(m_opt.top_k);
        std::partial_sort(c.begin(), c.begin() + static_cast<long>(keep), c.end(), desc);
    } else {
        std::sort(c.begin(), c.end(), desc);
    }
    // Softmax at the temperature over the kept candidates, then the nucleus.
    std::vector<double> p(keep);
    const double mx = c[0].first;
    double sum = 0.0;
    for (size_t i = 0; i < keep; ++i) sum += p[i] = std::exp((c[i].first - mx) / m_opt.temperature);
    size_t n = keep;
    if (m_opt.top_p < 1.0) {
        double acc = 0.0;
        for (size_t i = 0; i < keep; ++i) {
            acc += p[i] / sum;
            if (acc >= m_opt.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) total += p[i];
    const double u = static_cast<double>(splitmix64(m_state) >> 11) * 0x1.0p-53 * total;
    double acc = 0.0;
    for (size_t i = 0; i < n; ++i) {
        acc += p[i];
        if (u < acc) return c[i].second;
    }
    return c[n - 1].second;
}

double logSumExp(const float* logits, int64_t vocab) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
    double s = 0.0;
    for (int64_t i = 0; i < vocab; ++i) s += std::exp(static_cast<double>(logits[i]) - mx);
    return mx + std::log(s);
}

double logProbability(const float* logits, int64_t vocab, int32_t id) {
    return static_cast<double>(logits[id]) - logSumExp(logits, vocab);
}

std::vector<int32_t> topK(const float* logits, int64_t vocab, int64_t k) {
    std::vector<int32_t> ids(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    k = std::min(k, vocab);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    ids.resize(static_cast<size_t>(k));
    return ids;
}

PerplexityResult perplexityOf(const std::vector<float>& logits, const std::vector<int32_t>& tokens, int64_t vocab) {
    PerplexityResult r;
    const int64_t T = static_cast<int64_t>(tokens.size());
    double nll = 0.0;
    for (int64_t t = 0; t + 1 < T; ++t) {
        const double lp = logProbability(logits.data() + t * vocab, vocab, tokens[static_cast<size_t>(t + 1)]);
        r.token_logprob.push_back(lp);
        nll -= lp;
    }
    r.tokens = T > 0 ? T - 1 : 0;
    r.mean_nll = r.tokens > 0 ? nll / static_cast<double>(r.tokens) : 0.0;
    r.perplexity = std::exp(r.mean_nll);
    return r;
}

}  // namespace gqa
