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

// --preset and the per-field overrides, shared by run / memory / tradeoff.
struct ModelArgs {
    std::string preset = "teaching";
    std::optional<int64_t> layers, q_heads, kv_heads, head_dim, d_model, ffn_dim, max_seq, vocab;
    std::optional<double> rope_theta, norm_eps;
    std::optional<std::string> dtype;
};
void addModelOptions(CLI::App* cmd, ModelArgs& a);
// Preset + overrides, validated; the error names the offending field.
Expected<ModelConfig> resolveModel(const ModelArgs& a);

// --seq / --batch / --decode.
struct ShapeArgs {
    int64_t seq = 0;      // 0 = a default that suits the preset (64 for teaching)
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

}  // namespace gqa::cli
