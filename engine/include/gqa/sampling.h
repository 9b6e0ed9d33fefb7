// From logits to tokens and probabilities: greedy and seeded temperature / top-k / top-p sampling,
// log-probabilities and perplexity.
#pragma once

#include <cstdint>
#include <vector>

namespace gqa {

struct SamplingOptions {
    double temperature = 0.0;  // 0 = greedy (argmax)
    int64_t top_k = 0;         // 0 = no limit
    double top_p = 1.0;        // nucleus: smallest set of tokens whose probability reaches top_p
    uint64_t seed = 1234;
};

// A seeded token sampler; deterministic in (options, logits sequence).
class Sampler {
public:
    explicit Sampler(const SamplingOptions& o);
    // logits: (vocab). Greedy picks the lowest id among equal maxima.
    int32_t next(const float* logits, int64_t vocab);

private:
    SamplingOptions m_opt;
    uint64_t m_state;
    std::vector<std::pair<float, int32_t>> m_scratch;
};

// log softmax(logits)[id], computed in double.
double logProbability(const float* logits, int64_t vocab, int32_t id);
// log-sum-exp of the logits, in double.
double logSumExp(const float* logits, int64_t vocab);
// The k largest logits' ids, descending (ties: lower id first).
std::vector<int32_t> topK(const float* logits, int64_t vocab, int64_t k);

struct PerplexityResult {
    double perplexity = 0.0;            // exp(mean_nll)
    double mean_nll = 0.0;              // mean of -log p(token t | tokens < t), t = 1 .. T-1
    int64_t tokens = 0;                 // predicted tokens: T - 1
    std::vector<double> token_logprob;  // (T - 1)
};
// logits: (T, vocab) of a prompt's every position; tokens: (T).
PerplexityResult perplexityOf(const std::vector<float>& logits, const std::vector<int32_t>& tokens, int64_t vocab);

}  // namespace gqa
