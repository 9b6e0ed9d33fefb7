// The long-range probe: a fact stated early, asked for late. For each KV-head count of a conversion sweep,
// how likely the right answer token is, and how much attention the question's last position puts on the fact.
#include <algorithm>
#include <cmath>

#include "gqa/analysis.h"
#include "gqa/weights.h"

namespace gqa {

Expected<ProbeSpec> makeProbe(const Tokenizer& tok, const ProbePrompt& p) {
    if (p.fact.empty() || p.question.empty() || p.answer.empty())
        return makeError(ErrorCode::InvalidArgument, "probe: the fact, the question and the answer must not be empty");
    ProbeSpec s;
    s.source = "text";
    const bool bos = tok.addBosByDefault() || tok.bos() >= 0;
    // Pieces tokenized one after another (so the fact's token range is exact), BOS first.
    auto pieces = [&](const std::string& text) { return tok.encode(text, false); };
    if (bos && tok.bos() >= 0) s.tokens.push_back(tok.bos());
    s.fact_begin = static_cast<int64_t>(s.tokens.size());
    const auto fact = pieces(p.fact);
    s.tokens.insert(s.tokens.end(), fact.begin(), fact.end());
    s.fact_end = static_cast<int64_t>(s.tokens.size());
    const auto filler = pieces(p.filler);
    for (int64_t r = 0; r < std::max<int64_t>(0, p.filler_repeats); ++r)
        s.tokens.insert(s.tokens.end(), filler.begin(), filler.end());
    const auto q = pieces(p.question);
    s.tokens.insert(s.tokens.end(), q.begin(), q.end());
    // The answer token as it follows the question: the first token of question + answer past the question's own.
    const auto qa = pieces(p.question + p.answer);
    size_t k = 0;
    while (k < q.size() && k < qa.size() && q[k] == qa[k]) ++k;
    if (k < qa.size() && k == q.size()) {
        // A whitespace-only token before the answer (SentencePiece's lone "▁" before digits) belongs to the prompt:
        // the probe scores the answer's first visible token.
        auto blank = [&](int32_t id) {
            const std::string t = tok.displayPiece(id);
            return t.find_first_not_of(" \t\n") == std::string::npos;
        };
        while (k + 1 < qa.size() && blank(qa[k])) s.tokens.push_back(qa[k++]);
        s.answer_token = qa[k];
    } else {
        const auto a = pieces(p.answer);
        if (a.empty()) return makeError(ErrorCode::InvalidArgument, "probe: the answer gives no tokens");
        s.answer_token = a.front();
    }
    if (s.fact_end == s.fact_begin) return makeError(ErrorCode::InvalidArgument, "probe: the fact gives no tokens");
    return s;
}

ProbeSpec makeSyntheticProbe(int64_t vocab, int64_t filler_len, uint64_t seed) {
    ProbeSpec s;
    s.source = "synthetic";
    const auto ids = makeTokens(1, filler_len + 4, vocab, seed);  // ids[0] is BOS (0)
    const int32_t key = static_cast<int32_t>(1 + seed % static_cast<uint64_t>(std::max<int64_t>(1, vocab - 2)));
    const int32_t value =
        static_cast<int32_t>(1 + (seed * 7 + 3) % static_cast<uint64_t>(std::max<int64_t>(1, vocab - 2)));
    s.tokens = {ids[0], key, value};
    s.fact_begin = 1;
    s.fact_end = 3;
    s.tokens.insert(s.tokens.end(), ids.begin() + 1, ids.begin() + 1 + filler_len);
    s.tokens.push_back(key);
    s.answer_token = value;
    return s;
}

Expected<std::vector<ProbePoint>> runLongRangeProbe(Backend& backend, const Model& m, const ProbeSpec& spec,
                                                    const std::vector<int64_t>& kv_counts, ConvertMethod method) {
    const auto T = static_cast<int64_t>(spec.tokens.size());
    if (T < 2 || spec.fact_begin < 0 || spec.fact_end > T || spec.fact_begin >= spec.fact_end)
        return makeError(ErrorCode::InvalidArgument, "probe: the fact must lie inside a prompt of at least 2 tokens");
    if (spec.answer_token < 0 || spec.answer_token >= m.config.vocab_size)
        return makeError(ErrorCode::InvalidArgument,
                         "probe: answer token " + std::to_string(spec.answer_token) + " is outside the vocabulary");
    std::vector<ProbePoint> out;
    for (int64_t G : kv_counts) {
        Model conv;
        const Model* run = &m;
        if (G != m.config.n_kv_heads) {
            auto c = convertKvHeads(m, G, method);
            if (!c) return c.error();
            conv = std::move(*c);
            run = &conv;
        }
        auto inst = backend.createModel(*run, 1, T);
        if (!inst) return inst.error();
        StepRequest req;
        req.logits = LogitsMode::Last;
        for (int64_t l = 0; l < run->config.n_layers; ++l) req.maps.layers.push_back(l);
        StepOutput so;
        GQA_TRY((*inst)->prefill(spec.tokens.data(), T, req, so));
        ProbePoint p;
        p.n_kv_heads = G;
        // Softmax of the last position's logits, in double.
        const auto& lg = so.logits;
        const double mx = *std::max_element(lg.begin(), lg.end());
        double z = 0.0;
        for (float x : lg) z += std::exp(static_cast<double>(x) - mx);
        const float a = lg[static_cast<size_t>(spec.answer_token)];
        p.answer_probability = std::exp(static_cast<double>(a) - mx) / z;
        p.answer_rank = 1 + std::count_if(lg.begin(), lg.end(), [a](float x) { return x > a; });
        for (const auto& lm : so.maps) {
            double mass = 0.0;
            const auto nh = static_cast<int64_t>(lm.heads.size());
            for (int64_t hi = 0; hi < nh; ++hi)
                for (int64_t j = spec.fact_begin; j < spec.fact_end; ++j) mass += lm.at(0, hi, T - 1, j);
            p.fact_mass_per_layer.push_back(nh > 0 ? mass / static_cast<double>(nh) : 0.0);
        }
        for (double x : p.fact_mass_per_layer) p.fact_mass += x;
        if (!p.fact_mass_per_layer.empty()) p.fact_mass /= static_cast<double>(p.fact_mass_per_layer.size());
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace gqa
