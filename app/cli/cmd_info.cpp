// gqa-lab-cli info: backends built, devices found, and why a backend is unavailable.
#include <iostream>

#include "cli_common.h"
#include "gqa/presets.h"

namespace gqa::cli {
namespace {

struct InfoArgs {
    bool json = false;
};

int runInfo(const InfoArgs& a) {
    const auto backends = probeBackends();
    if (a.json) {
        nlohmann::json j;
        j["version"] = "0.1.0";
        for (const auto& b : backends)
            j["backends"].push_back({{"name", b.name}, {"available", b.available}, {"device", b.device},
                                     {"reason", b.reason}});
        j["presets"] = presetNames();
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "GQA Lab 0.1.0\nBackends:\n";
    for (const auto& b : backends) {
        std::cout << "  " << b.name << ": " << (b.available ? "available — " + b.device : "unavailable — " + b.reason)
                  << "\n";
    }
    std::cout << "Presets:";
    for (const auto& n : presetNames()) std::cout << " " << n;
    std::cout << "\n";
    return 0;
}

const CommandRegistrar reg("info", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<InfoArgs>();
    auto* cmd = app.add_subcommand("info", "Backends built, devices found, and why a backend is unavailable");
    cmd->add_flag("--json", args->json, "Print JSON");
    cmd->callback([args, &exit_code] { exit_code = runInfo(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
