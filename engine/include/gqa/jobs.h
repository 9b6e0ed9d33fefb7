// Jobs: the engine-level functions the GUI worker and the CLI both call, one per kind of work, each with
// progress and cancel. The worker only queues, supersedes and forwards their results.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gqa/backend.h"
#include "gqa/model.h"
#include "gqa/sampling.h"
#include "gqa/status.h"

namespace gqa {

// Progress of one job: steps done of total (a polled counter), and the flag that cancels it between steps.
struct JobControl {
    std::atomic<int64_t> done{0};
    std::atomic<int64_t> total{0};
    std::atomic<bool> cancel{false};
};

// ---- Model load -----------------------------------------------------------------------------------
// Reads the config, predicts the fit of the weights against available_bytes (> 0) and refuses before
// anything is mapped when they would not fit; then maps and checks every tensor and loads the tokenizer.
// Steps: config, fit, tensors (3).
Expected<std::shared_ptr<const Model>> loadModelJob(const std::string& path, int64_t available_bytes,
                                                    JobControl* control = nullptr);

// ---- Prompt score ---------------------------------------------------------------------------------
// The prompt's perplexity under the first `layers` layers (0 = all) of `model`, its LM head reading layer
// N's output: one prefill with LogitsMode::All. tokens: (T), T >= 2.
struct PromptScore {
    PerplexityResult perplexity;
    std::vector<float> last_logits;  // (vocab): the next-token logits after the prompt
    int64_t layers_run = 0;
};
Expected<PromptScore> scorePrompt(Backend& backend, const Model& model, const std::vector<int32_t>& tokens,
                                  int64_t layers = 0, JobControl* control = nullptr);

// Kullback-Leibler divergence KL(p || q) in nats of the softmax distributions of two logit vectors (vocab).
double klDivergence(const float* logits_p, const float* logits_q, int64_t vocab);

}  // namespace gqa
