// gqa-lab-cli tokenize: a model's tokenizer on a text: ids and pieces. A vocabulary-only GGUF is enough.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/gguf.h"
#include "gqa/tokenizer.h"

namespace gqa::cli {
namespace {

struct TokenizeArgs {
    std::string model, text, text_file;
    bool no_bos = false, json = false;
};

// The tokenizer alone: from a GGUF file's metadata (no tensors needed) or a Hugging Face directory.
Expected<std::shared_ptr<const Tokenizer>> openTokenizer(const std::string& path) {
    if (path.size() > 5 && path.substr(path.size() - 5) == ".gguf") {
        auto f = readGguf(path);
        if (!f) return f.error();
        return tokenizerFromGguf(*f);
    }
    return tokenizerFromHfDir(path);
}

int runTokenize(const TokenizeArgs& a) {
    auto text = readTextArg(a.text, a.text_file, "text");
    if (!text) return reportError(text.error());
    auto tok = openTokenizer(a.model);
    if (!tok) return reportError(tok.error());
    const auto ids = (*tok)->encode(*text, !a.no_bos && (*tok)->addBosByDefault());
    if (a.json) {
        nlohmann::json pieces = nlohmann::json::array();
        for (int32_t id : ids) pieces.push_back((*tok)->piece(id));
        std::cout << nlohmann::json{{"ids", ids}, {"pieces", pieces}}.dump(2, ' ', false,
                                                                           nlohmann::json::error_handler_t::replace)
                  << "\n";
        return 0;
    }
    std::printf("%zu tokens (%s tokenizer)\n", ids.size(), (*tok)->kind().c_str());
    for (int32_t id : ids) std::printf("%8d  %s\n", id, (*tok)->displayPiece(id).c_str());
    return 0;
}

const CommandRegistrar reg("tokenize", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<TokenizeArgs>();
    auto* cmd = app.add_subcommand("tokenize",
                                   "Token ids and pieces of a text with a model's tokenizer (a Hugging Face "
                                   "directory, a .gguf model or a vocabulary-only .gguf)");
    cmd->add_option("--model", args->model, "Hugging Face directory or .gguf file")->required();
    cmd->add_option("--text", args->text, "Text to tokenize");
    cmd->add_option("--text-file", args->text_file, "File whose bytes are tokenized");
    cmd->add_flag("--no-bos", args->no_bos, "Do not add the BOS token");
    cmd->add_flag("--json", args->json, "Print {\"ids\": [...], \"pieces\": [...]}");
    cmd->callback([args, &exit_code] { exit_code = runTokenize(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
