// Transitional: the analytic picture is the engine's planRun (gqa/jobs.h). These forwarders go once every
// caller uses it directly.
#pragma once

#include "engine_types.h"

namespace gqa::ui {

inline Analysis computeAnalysis(const RunParams& params, const DeviceInfo& device, const Ceilings& ceilings, bool) {
    return planRun(params, device, ceilings);
}

}  // namespace gqa::ui
