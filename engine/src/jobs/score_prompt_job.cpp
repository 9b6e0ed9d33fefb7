#include <algorithm>
#include <cmath>

#include "gqa/jobs.h"

namespace gqa {

Expected<PromptScore> scorePrompt(Backend& backend, const Model& model, const std::vector<int32_t>& tokens,
                                  int64_t layers, JobControl* control) {
    const auto T = static_cast<int64_t>(tokens.size());
    if (T < 2) return makeError(ErrorCode::InvalidArgument, "a perplexity needs a prompt of at least 2 tokens");
    const int64_t n = layers > 0 ? std::min(layers, model.config.n_layers) : model.config.n_layers;
    const Model run = n < model.config.n_layers ? model.firstLayers(n) : model;
    if (control) {
        control->done = 0;
        control->total = n;
    }
    auto inst = backend.createModel(run, 1, T);
    if (!inst) return inst.error();
    StepRequest req;
    req.logits = LogitsMode::All;  // (1, T, vocab): every position predicts the next token
    req.cancel = control ? &control->cancel : nullptr;
    req.layers_done = control ? &control->done : nullptr;
    StepOutput out;
    if (Status s = (*inst)->prefill(tokens.data(), T, req, out); !s) return s.error();
    const int64_t vocab = run.config.vocab_size;
    PromptScore score;
    score.layers_run = n;
    score.perplexity = perplexityOf(out.logits, tokens, vocab);
    score.last_logits.assign(out.logits.end() - vocab, out.logits.end());
    return score;
}

double klDivergence(const float* p, const float* q, int64_t vocab) {
    // KL(p || q) = sum_i p_i (log p_i - log q_i), from log-softmax in double.
    const double lse_p = logSumExp(p, vocab), lse_q = logSumExp(q, vocab);
    double kl = 0.0;
    for (int64_t i = 0; i < vocab; ++i) {
        const double lp = static_cast<double>(p[i]) - lse_p;
        const double lq = static_cast<double>(q[i]) - lse_q;
        kl += std::exp(lp) * (lp - lq);
    }
    return std::max(kl, 0.0);
}

}  // namespace gqa
