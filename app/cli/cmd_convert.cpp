// gqa-lab-cli convert: merge a checkpoint's KV heads (MHA -> GQA -> MQA) and save it as a Hugging Face directory.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/convert.h"
#include "gqa/jobs.h"

namespace gqa::cli {
namespace {

struct ConvertArgs {
    std::string model, method = "meanpool", out;
    int64_t kv_heads = 0;
    bool json = false;
};

int runConvert(const ConvertArgs& a) {
    auto method = parseConvertMethod(a.method);
    if (!method) return reportError(makeError(ErrorCode::InvalidArgument, "--method must be meanpool or first"));
    LoadOptions opt;
    opt.available_bytes = createCpuBackend()->deviceInfo().available_bytes;
    auto m = loadModel(a.model, opt);
    if (!m) return reportError(m.error());
    const int64_t before = m->config.n_kv_heads;
    // The same engine job as the app's "Save converted model…".
    auto st = saveConvertedModel(*m, a.kv_heads, *method, a.out);
    if (!st) return reportError(st.error());
    const int64_t group_size = m->config.n_q_heads / a.kv_heads;
    if (a.json) {
        std::cout << nlohmann::json{{"out", a.out},
                                    {"kv_heads_before", before},
                                    {"kv_heads", a.kv_heads},
                                    {"method", convertMethodName(*method)},
                                    {"group_size", group_size}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("converted %s: %lld -> %lld KV heads (%s, g = %lld), written to %s\n", a.model.c_str(),
                (long long)before, (long long)a.kv_heads, convertMethodName(*method), (long long)group_size,
                a.out.c_str());
    if (m->format == "gguf")
        std::printf("note: a GGUF's vocabulary is not written out; tokenize with the original file\n");
    return 0;
}

const CommandRegistrar reg("convert", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ConvertArgs>();
    auto* cmd = app.add_subcommand("convert",
                                   "Merge a checkpoint's KV heads (Ainslie et al. 2023 mean-pooling, or the "
                                   "first head of each group) and write a Hugging Face directory");
    cmd->add_option("--model", args->model, "Hugging Face directory or .gguf file")->required();
    cmd->add_option("--kv-heads", args->kv_heads, "Target KV heads (a divisor of the model's)")->required();
    cmd->add_option("--method", args->method, "meanpool or first")->capture_default_str();
    cmd->add_option("--out", args->out, "Output directory")->required();
    cmd->add_flag("--json", args->json, "Print JSON");
    cmd->callback([args, &exit_code] { exit_code = runConvert(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
