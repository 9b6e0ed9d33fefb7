// Shared pieces of gqa-lab-cli: command registration, the model/run options every subcommand shares,
// and uniform error reporting.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gqa/backend.h"
#include "gqa/config.h"
#include "gqa/engine.h"
#include "gqa/status.h"

namespace gqa::cli {

// Each cmd_*.cpp registers its subcommand with a static CommandRegistrar. The callback adds the
// subcommand to the app and returns it; the subcommand's callback must set `exit_code`.
struct Command {
    std::string name;
    std::function<CLI::App*(CLI::App& app, int& exit_code)> add;
};
std::vector<Command>& commands();
struct CommandRegistrar {
    CommandRegistrar(std::string name, std::function<CLI::App*(CLI::App&, int&)> add);
};

// --model PATH or --preset and the per-field overrides, shared by run / memory / tradeoff / bench.
struct ModelArgs {
    std::string model_path;  // a Hugging Face directory or a .gguf file; empty = the preset
    std::string preset = "teaching";
    std::optional<int64_t> layers, q_heads, kv_heads, head_dim, d_model, ffn_dim, max_seq, vocab;
    std::optional<int64_t> window;  // --window W: sliding window (0 = none), on presets and checkpoints
    std::string layer_windows;      // --layer-windows W0,W1,...: per-layer windows, repeated over the layers
    std::optional<double> rope_theta, norm_eps;
    std::optional<std::string> dtype, kv_dtype;
    std::string convert_method = "meanpool";
};
void addModelOptions(CLI::App* cmd, ModelArgs& a);
// Preset + overrides, or the checkpoint's config (with --kv-dtype/--max-seq; --kv-heads converts), validated;
// the error names the offending field. Nothing is mapped.
Expected<ModelConfig> resolveModel(const ModelArgs& a);

// A checkpoint (--model) loaded, converted to --kv-heads when given, with --kv-dtype / --max-seq applied; null
// for a preset. `max_layers` > 0 maps only the first layers.
struct ResolvedModel {
    ModelConfig config;                  // what runs (full depth)
    std::shared_ptr<const Model> model;  // null for presets
};
Expected<ResolvedModel> openModel(const ModelArgs& a, int64_t max_layers = 0);

// --prompt TEXT | --prompt-file F (or --text / --text-file), read as bytes.
Expected<std::string> readTextArg(const std::string& text, const std::string& file, const char* what);
// Token ids of `text` with the model's tokenizer (BOS as the tokenizer says), or an error naming the model.
Expected<std::vector<int32_t>> tokenizeFor(const Model& m, const std::string& text, bool add_bos = true);

// --seq / --batch / --decode.
struct ShapeArgs {
    int64_t seq = 0;  // 0 = a default that suits the preset (64 for teaching)
    int64_t batch = 1;
    int64_t decode = 16;
};
void addShapeOptions(CLI::App* cmd, ShapeArgs& s);
RunShape resolveShape(const ShapeArgs& s, const ModelConfig& cfg);

// Prints "gqa-lab-cli: error: <message>" to stderr and returns the exit code for the error kind
// (2 invalid input / corrupt file, 3 unavailable backend, 4 out of memory, 1 otherwise).
int reportError(const Error& e);

// --backend cpu|cuda|auto → a backend, or an error saying why not.
Expected<std::unique_ptr<Backend>> openBackend(const std::string& name);

nlohmann::json toJson(const ModelConfig& cfg);
// Median and spread of a time, as every JSON time carries them: median_ms, min_ms, max_ms, repeats.
nlohmann::json spreadJson(const TimingStats& t);

}  // namespace gqa::cli
