// The analytic side of one request: memory model, fit, roofline of the whole model. Runs on the worker.
#pragma once

#include "engine_types.h"

namespace gqa::ui {

// `ceilings` may be a cached value (ceilings_measured = false); the prediction is only as good as they are.
Analysis computeAnalysis(const RunParams& params, const DeviceInfo& device, const Ceilings& ceilings,
                         bool ceilings_measured);

// Bytes of the float32 maps one layer keeps: batch x q_heads x (T x T + every decode row).
int64_t mapBytesPerLayer(const RunParams& params);

// Layers whose maps are requested: all planned layers when they fit in the budget, else the chosen one, and
// none when even one layer's maps exceed params.maps_limit_bytes (a batch of long prompts: 999 x 1008 tokens
// would be 32 GB of maps). `note` (optional) says why none were kept.
MapRequest mapLayersFor(const RunParams& params, int64_t layers_planned, QString* note = nullptr);

}  // namespace gqa::ui
