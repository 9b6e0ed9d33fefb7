// gqa-lab-cli: the GQA Lab engine for scripts, verification and benchmarks. Subcommands live in cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli_common.h"

int main(int argc, char** argv) {
    CLI::App app{
        "GQA Lab command line: run, verify and benchmark grouped-query attention on the CPU or CUDA.\n"
        "n_q query heads share n_kv key/value heads; query head h reads KV head h / (n_q / n_kv)."};
    app.require_subcommand(1);
    app.set_version_flag("--version", "gqa-lab-cli 0.1.0");
    int exit_code = 0;
    auto& cmds = gqa::cli::commands();
    std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    for (auto& c : cmds) c.add(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::cerr << "gqa-lab-cli: error: " << e.what() << "\n";
        return 1;
    }
    return exit_code;
}
