// Published model shapes. Each preset cites the config it was checked against (presets.cpp).
#pragma once

#include <string>
#include <vector>

#include "gqa/config.h"

namespace gqa {

// The default preset: small enough for a prefill + decode well under 100 ms on 2 CPU cores,
// 8 query heads in 2 KV groups.
inline constexpr const char* kDefaultPreset = "teaching";

std::vector<std::string> presetNames();
Expected<ModelConfig> findPreset(const std::string& name);

}  // namespace gqa
