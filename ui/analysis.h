// The analytic side of one request: memory model, fit, roofline of the whole model. Runs on the worker.
#pragma once

#include "engine_types.h"

namespace gqa::ui {

// `ceilings` may be a cached value (ceilings_measured = false); the prediction is only as good as they are.
Analysis computeAnalysis(const RunParams& params, const DeviceInfo& device, const Ceilings& ceilings,
                         bool ceilings_measured);

// Layers whose maps are requested: all planned layers when they fit in the budget, else the chosen one.
MapRequest mapLayersFor(const RunParams& params, int64_t layers_planned);

}  // namespace gqa::ui
