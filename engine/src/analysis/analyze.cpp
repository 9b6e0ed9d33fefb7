// One model's analysis on one prompt: a prefill with the maps of the chosen layers, then the statistics.
#include <algorithm>

#include "gqa/analysis.h"
#include "gqa/sampling.h"

namespace gqa {

Expected<ModelAnalysis> analyzeModel(Backend& backend, const Model& m, const std::vector<int32_t>& tokens,
                                     const AnalyzeOptions& o) {
    const auto& c = m.config;
    const auto T = static_cast<int64_t>(tokens.size());
    if (T < 1) return makeError(ErrorCode::InvalidArgument, "analyze: the prompt is empty");
    if (T > c.max_seq)
        return makeError(ErrorCode::InvalidArgument, "analyze: the prompt holds " + std::to_string(T) +
                                                         " tokens, more than the model's max_seq " +
                                                         std::to_string(c.max_seq));
    ModelAnalysis res;
    res.config = c;
    res.prompt_len = T;
    res.distances = o.distances.empty() ? defaultDistances(T) : o.distances;
    std::vector<int64_t> layers = o.layers;
    if (layers.empty())
        for (int64_t l = 0; l < c.n_layers; ++l) layers.push_back(l);
    for (int64_t l : layers)
        if (l < 0 || l >= c.n_layers)
            return makeError(ErrorCode::InvalidArgument, "analyze: layer " + std::to_string(l) + " is outside 0.." +
                                                             std::to_string(c.n_layers - 1));
    if (o.decode_steps < 0 || T + o.decode_steps > c.max_seq)
        return makeError(ErrorCode::InvalidArgument,
                         "analyze: " + std::to_string(o.decode_steps) + " decode steps after " + std::to_string(T) +
                             " tokens exceed the model's max_seq " + std::to_string(c.max_seq));
    auto inst = backend.createModel(m, 1, T + o.decode_steps);
    if (!inst) return inst.error();
    StepRequest req;
    req.maps.layers = layers;
    req.logits = o.decode_steps > 0 ? LogitsMode::Last : LogitsMode::None;
    StepOutput out;
    GQA_TRY((*inst)->prefill(tokens.data(), T, req, out));
    const int64_t g = c.groupSize();
    auto measure = [&](const std::vector<LayerMaps>& maps) {
        std::vector<LayerAnalysis> out_layers;
        for (const auto& lm : maps) {
            LayerAnalysis la;
            la.layer = lm.layer;
            la.heads = headStatistics(lm, g, o.stats);
            const auto l = static_cast<size_t>(lm.layer);
            for (HeadStats& h : la.heads)
                if (l < m.head_roles.size() && static_cast<size_t>(h.head) < m.head_roles[l].size())
                    h.role = m.head_roles[l][static_cast<size_t>(h.head)];
            la.diversity = groupDiversity(lm, g, o.stats.first_row);
            la.mass_beyond = massBeyond(lm, res.distances, o.stats.first_row);
            out_layers.push_back(std::move(la));
        }
        std::sort(out_layers.begin(), out_layers.end(), [](const auto& a, const auto& b) { return a.layer < b.layer; });
        return out_layers;
    };
    res.layers = measure(out.maps);
    for (int64_t s = 0; s < o.decode_steps; ++s) {
        DecodeStepAnalysis step;
        step.step = s;
        step.token = topK(out.logits.data(), c.vocab_size, 1).front();
        StepOutput next;
        GQA_TRY((*inst)->decode(&step.token, req, next));
        step.layers = measure(next.maps);
        res.decode.push_back(std::move(step));
        out = std::move(next);
    }
    return res;
}

}  // namespace gqa
