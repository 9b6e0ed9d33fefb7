// gqa-lab-cli analyze: what grouping does to attention — per-head statistics, diversity inside and between KV
// groups, long-range mass, and the fact-recall probe over a conversion sweep.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "gqa/analysis.h"
#include "gqa/convert.h"
#include "gqa/memory_model.h"
#include "gqa/tokenizer.h"
#include "gqa/weights.h"

namespace gqa::cli {
namespace {

// Used when --prompt is not given on a model with a tokenizer.
constexpr const char* kDefaultPrompt =
    "The old lighthouse stood at the edge of the cliff. Every night its keeper climbed the stairs, lit the lamp and "
    "watched the ships pass in the dark. One winter a storm broke the glass, and the keeper carried a lantern up the "
    "stairs for a week until the new glass arrived from the city.";

struct AnalyzeArgs {
    std::string model_path;
    std::string preset = "teaching";
    std::optional<int64_t> kv_heads;  // adds a "converted" block
    std::string method = "meanpool";
    std::optional<int64_t> window;
    std::string layers;  // "0,2,3"; empty = every layer (first 2 of a big preset)
    std::string prompt, prompt_file;
    int64_t seq = 64;          // synthetic prompt length (presets)
    int64_t decode_steps = 0;  // greedy decode steps, each one's statistics ("decode_steps")
    std::string weights = "structured";
    uint64_t seed = 1234;
    StatsOptions stats;
    bool json = false;
    bool no_probe = false;
    ProbePrompt probe;
    int64_t probe_filler_len = 48;  // presets: pseudo-random ids between the fact and the question
    std::string backend = "cpu";
};

Expected<std::vector<int64_t>> parseLayers(const std::string& s) {
    std::vector<int64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty()) continue;
        try {
            size_t used = 0;
            const long long v = std::stoll(item, &used);
            if (used != item.size()) throw std::invalid_argument(item);
            out.push_back(v);
        } catch (...) {
            return makeError(ErrorCode::InvalidArgument,
                             "--layers: '" + item + "' is not a layer number (e.g. --layers 0,2)");
        }
    }
    return out;
}

nlohmann::json optJson(const std::optional<double>& x) {
    return x ? nlohmann::json(*x) : nlohmann::json(nullptr);
}

nlohmann::json layersJson(const ModelAnalysis& a) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& la : a.layers) {
        nlohmann::json heads = nlohmann::json::array();
        for (const auto& h : la.heads) {
            nlohmann::json hj = {{"head", h.head},
                                 {"kv_head", h.kv_head},
                                 {"entropy_bits", h.mean.entropy_bits},
                                 {"mean_distance", h.mean.mean_distance},
                                 {"sink_mass", h.mean.sink_mass},
                                 {"prev_token_mass", h.mean.prev_token_mass},
                                 {"local_mass", h.mean.local_mass},
                                 {"long_range_mass", h.mean.long_range_mass},
                                 {"rows", h.rows},
                                 {"role", headRoleName(h.role)}};
            heads.push_back(hj);
        }
        const auto& d = la.diversity;
        nlohmann::json js = nlohmann::json::array();
        for (int64_t i = 0; i < d.n(); ++i) {
            nlohmann::json row = nlohmann::json::array();
            for (int64_t k = 0; k < d.n(); ++k) row.push_back(d.at(i, k));
            js.push_back(row);
        }
        layers.push_back({{"layer", la.layer},
                          {"window", a.config.windowOf(la.layer)},
                          {"heads", heads},
                          {"group_diversity",
                           {{"heads", d.heads},
                            {"kv_head", d.kv_head},
                            {"js_bits", js},
                            {"mean_within_bits", optJson(d.mean_within_bits)},
                            {"mean_between_bits", optJson(d.mean_between_bits)}}},
                          {"long_range", {{"distances", a.distances}, {"mass_beyond", la.mass_beyond}}}});
    }
    return layers;
}

std::string fmtOpt(const std::optional<double>& x) {
    if (!x) return "n/a";
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", *x);
    return b;
}

void printAnalysis(const char* title, const ModelAnalysis& a, const StatsOptions& o) {
    std::printf("\n%s: %lld query heads, %lld KV heads (%s), %lld prompt tokens%s\n", title,
                (long long)a.config.n_q_heads, (long long)a.config.n_kv_heads, a.config.attentionKind().c_str(),
                (long long)a.prompt_len,
                a.config.hasWindow() ? (", sliding window " + a.config.windowText()).c_str() : "");
    for (const auto& la : a.layers) {
        std::printf("layer %lld  (JS divergence within groups %s bits, between groups %s bits)\n", (long long)la.layer,
                    fmtOpt(la.diversity.mean_within_bits).c_str(), fmtOpt(la.diversity.mean_between_bits).c_str());
        std::printf("  head kv  entropy_bits mean_distance sink_mass prev_token local(<%lld) beyond(%lld)\n",
                    (long long)o.local_window, (long long)o.long_distance);
        for (const auto& h : la.heads)
            std::printf("  %4lld %2lld  %12.3f %13.2f %9.3f %10.3f %10.3f %11.3f\n", (long long)h.head,
                        (long long)h.kv_head, h.mean.entropy_bits, h.mean.mean_distance, h.mean.sink_mass,
                        h.mean.prev_token_mass, h.mean.local_mass, h.mean.long_range_mass);
        std::printf("  mass beyond d:");
        for (size_t k = 0; k < a.distances.size(); ++k)
            std::printf(" d=%lld %.3f%s", (long long)a.distances[k], la.mass_beyond[k],
                        k + 1 < a.distances.size() ? "," : "\n");
    }
}

int runAnalyze(const AnalyzeArgs& a) {
    auto bad = [](std::string m) { return reportError(makeError(ErrorCode::InvalidArgument, std::move(m))); };
    auto layers = parseLayers(a.layers);
    if (!layers) return reportError(layers.error());
    if (a.stats.local_window < 1 || a.stats.long_distance < 0 || a.stats.first_row < 0)
        return bad("--local-window must be >= 1, --distance and --first-row >= 0");
    ModelArgs ma;
    ma.model_path = a.model_path;
    ma.preset = a.preset;
    ma.window = a.window;
    auto full = resolveModel(ma);
    if (!full) return reportError(full.error());
    // Layers to build: up to the last one asked for; without --layers every layer, or the first two of a model
    // whose weights would not comfortably fit in memory.
    int64_t build = full->n_layers;
    std::string note;
    if (!layers->empty()) {
        for (int64_t l : *layers)
            if (l < 0 || l >= full->n_layers)
                return bad("--layers: layer " + std::to_string(l) + " is outside 0.." +
                           std::to_string(full->n_layers - 1));
        build = *std::max_element(layers->begin(), layers->end()) + 1;
    } else if (estimateMemory(*full, 1, 1).weight_bytes > (int64_t{4} << 30)) {
        build = std::min<int64_t>(2, full->n_layers);
        note = "analyzed the first " + std::to_string(build) + " of " + std::to_string(full->n_layers) +
               " layers (pass --layers to choose)";
    }
    auto backend = openBackend(a.backend);
    if (!backend) return reportError(backend.error());

    std::shared_ptr<const Model> model;
    std::vector<int32_t> tokens;
    if (!a.model_path.empty()) {
        auto r = openModel(ma, build);
        if (!r) return reportError(r.error());
        model = r->model;
        std::string text = kDefaultPrompt;
        if (!a.prompt.empty() || !a.prompt_file.empty()) {
            auto t = readTextArg(a.prompt, a.prompt_file, "prompt");
            if (!t) return reportError(t.error());
            text = *t;
        }
        auto ids = tokenizeFor(*model, text);
        if (!ids) return reportError(ids.error());
        tokens = *ids;
    } else {
        if (!a.prompt.empty() || !a.prompt_file.empty())
            return bad("--prompt needs --model (presets have no tokenizer)");
        WeightsMode mode = WeightsMode::Structured;
        if (a.weights == "random")
            mode = WeightsMode::Random;
        else if (a.weights != "structured")
            return bad("--weights must be structured or random");
        auto m = makeSyntheticModel(*full, a.seed, mode, build);
        if (!m) return reportError(m.error());
        model = std::make_shared<const Model>(std::move(*m));
        if (a.seq < 2 || a.seq > full->max_seq) return bad("--seq must be between 2 and the model's max_seq");
        tokens = makeTokens(1, a.seq, full->vocab_size, a.seed);
    }
    const auto method = parseConvertMethod(a.method);
    if (!method) return bad("--method must be meanpool or first (got '" + a.method + "')");

    AnalyzeOptions opt;
    opt.layers = *layers;
    opt.stats = a.stats;
    opt.decode_steps = a.decode_steps;
    auto base = analyzeModel(**backend, *model, tokens, opt);
    if (!base) return reportError(base.error());
    std::optional<ModelAnalysis> conv;
    std::shared_ptr<const Model> conv_model;
    if (a.kv_heads && *a.kv_heads != model->config.n_kv_heads) {
        auto c = convertKvHeads(*model, *a.kv_heads, *method);
        if (!c) return reportError(c.error());
        conv_model = std::make_shared<const Model>(std::move(*c));
        auto r = analyzeModel(**backend, *conv_model, tokens, opt);
        if (!r) return reportError(r.error());
        conv = std::move(*r);
    }
    // The long-range probe over every coarser grouping of this model.
    std::optional<ProbeSpec> spec;
    std::vector<ProbePoint> points;
    if (!a.no_probe) {
        if (model->tokenizer) {
            auto s = makeProbe(*model->tokenizer, a.probe);
            if (!s) return reportError(s.error());
            spec = *s;
        } else {
            spec = makeSyntheticProbe(model->config.vocab_size, a.probe_filler_len, a.seed);
        }
        if (static_cast<int64_t>(spec->tokens.size()) > model->config.max_seq)
            return bad("the probe prompt (" + std::to_string(spec->tokens.size()) + " tokens) is longer than max_seq");
        std::vector<int64_t> counts;
        for (int64_t g : model->config.validKvHeadCounts())
            if (g <= model->config.n_kv_heads && model->config.n_kv_heads % g == 0) counts.push_back(g);
        std::sort(counts.rbegin(), counts.rend());
        auto r = runLongRangeProbe(**backend, *model, *spec, counts, *method);
        if (!r) return reportError(r.error());
        points = std::move(*r);
    }

    if (a.json) {
        nlohmann::json j = {{"model", toJson(full->n_layers == model->config.n_layers ? model->config : *full)},
                            {"prompt_tokens", tokens.size()},
                            {"local_window", a.stats.local_window},
                            {"long_distance", a.stats.long_distance},
                            {"first_row", a.stats.first_row},
                            {"layers", layersJson(*base)}};
        if (!base->decode.empty()) {
            // Per decode step: the statistics of its one new row (query position prompt + step).
            nlohmann::json steps = nlohmann::json::array();
            for (const DecodeStepAnalysis& st : base->decode) {
                ModelAnalysis one = *base;
                one.layers = st.layers;
                steps.push_back({{"step", st.step},
                                 {"position", static_cast<int64_t>(tokens.size()) + st.step},
                                 {"token", st.token},
                                 {"layers", layersJson(one)}});
            }
            j["decode_steps"] = steps;
        }
        if (!note.empty()) j["note"] = note;
        if (conv)
            j["converted"] = {{"n_kv_heads", conv->config.n_kv_heads},
                              {"group_size", conv->config.groupSize()},
                              {"method", convertMethodName(*method)},
                              {"layers", layersJson(*conv)}};
        if (spec) {
            nlohmann::json pts = nlohmann::json::array();
            for (const auto& p : points)
                pts.push_back({{"n_kv_heads", p.n_kv_heads},
                               {"answer_probability", p.answer_probability},
                               {"answer_rank", p.answer_rank},
                               {"fact_mass", p.fact_mass},
                               {"fact_mass_per_layer", p.fact_mass_per_layer}});
            nlohmann::json pj = {{"source", spec->source},
                                 {"prompt_tokens", spec->tokens.size()},
                                 {"fact_positions", {spec->fact_begin, spec->fact_end}},
                                 {"answer_token", spec->answer_token},
                                 {"method", convertMethodName(*method)},
                                 {"points", pts}};
            if (spec->source == "text") {
                pj["fact"] = a.probe.fact;
                pj["question"] = a.probe.question;
                pj["answer"] = a.probe.answer;
            }
            j["probe"] = pj;
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    if (!note.empty()) std::printf("%s\n", note.c_str());
    printAnalysis("original", *base, a.stats);
    if (conv) printAnalysis("converted", *conv, a.stats);
    if (spec) {
        std::printf("\nlong-range probe (%s, %zu tokens, fact at positions %lld..%lld, answer token %d):\n",
                    spec->source.c_str(), spec->tokens.size(), (long long)spec->fact_begin,
                    (long long)spec->fact_end - 1, spec->answer_token);
        std::printf("  KV heads  P(answer)  rank  attention on the fact (last position, mean over heads and layers)\n");
        for (const auto& p : points)
            std::printf("  %8lld  %9.5f  %4lld  %.4f\n", (long long)p.n_kv_heads, p.answer_probability,
                        (long long)p.answer_rank, p.fact_mass);
    }
    return 0;
}

const CommandRegistrar reg("analyze", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<AnalyzeArgs>();
    auto* cmd = app.add_subcommand(
        "analyze",
        "Per-head attention statistics (entropy, mean distance, sink / previous-token / local / long-range mass), the "
        "Jensen-Shannon diversity of heads inside and between KV groups, attention mass beyond distance d, and a "
        "long-range probe (a fact early, the question late) for every KV-head count of a conversion sweep");
    cmd->add_option("--model", args->model_path,
                    "A checkpoint: Hugging Face directory or .gguf file (instead of --preset)");
    cmd->add_option("--preset", args->preset, "Synthetic model preset")->capture_default_str();
    cmd->add_option("--layers", args->layers, "Layers to analyze, comma-separated (default: all)");
    cmd->add_option("--prompt", args->prompt, "Prompt text (--model only; default: a short built-in paragraph)");
    cmd->add_option("--prompt-file", args->prompt_file, "Read the prompt from a file");
    cmd->add_option("--seq", args->seq, "Presets: synthetic prompt length")->capture_default_str();
    cmd->add_option(
           "--decode-steps", args->decode_steps,
           "Greedy decode steps after the prompt; each step's statistics of its one new row (\"decode_steps\")")
        ->check(CLI::Range(int64_t{0}, int64_t{4096}))
        ->capture_default_str();
    cmd->add_option("--kv-heads", args->kv_heads,
                    "Also analyze the model converted to this many KV heads (\"converted\")");
    cmd->add_option("--method", args->method, "Conversion: meanpool or first")->capture_default_str();
    cmd->add_option("--window", args->window, "Sliding window W (0 = none; default: the model's own)");
    cmd->add_option("--weights", args->weights, "Presets: structured or random weights")->capture_default_str();
    cmd->add_option("--seed", args->seed, "Presets: weights and prompt seed")->capture_default_str();
    cmd->add_option("--local-window", args->stats.local_window, "local_mass: keys with i - j < this")
        ->capture_default_str();
    cmd->add_option("--distance", args->stats.long_distance, "long_range_mass: keys with i - j > this")
        ->capture_default_str();
    cmd->add_option("--first-row", args->stats.first_row, "Leave query positions below this out of the averages")
        ->capture_default_str();
    cmd->add_flag("--no-probe", args->no_probe, "Skip the long-range probe");
    cmd->add_option("--probe-fact", args->probe.fact, "Probe: the fact stated early")->capture_default_str();
    cmd->add_option("--probe-filler", args->probe.filler, "Probe: text between the fact and the question");
    cmd->add_option("--probe-repeats", args->probe.filler_repeats, "Probe: how often the filler repeats")
        ->capture_default_str();
    cmd->add_option("--probe-question", args->probe.question, "Probe: the question asked late")->capture_default_str();
    cmd->add_option("--probe-answer", args->probe.answer, "Probe: the answer (its first token is scored)")
        ->capture_default_str();
    cmd->add_option("--probe-filler-len", args->probe_filler_len,
                    "Probe on presets: filler ids between fact and question")
        ->capture_default_str();
    cmd->add_option("--backend", args->backend, "cpu, cuda or auto")->capture_default_str();
    cmd->add_flag("--json", args->json,
                  "Print JSON: {\"layers\": [{\"layer\", \"heads\": [...], \"group_diversity\", "
                  "\"long_range\"}], \"converted\", \"probe\"}");
    cmd->callback([args, &exit_code] { exit_code = runAnalyze(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
