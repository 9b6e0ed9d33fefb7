// A compact, serializable summary of one configuration and its result: what the Compare tab and the
// pinned overlays need, and what a session file stores for the pinned run.
#pragma once

#include <QJsonObject>
#include <QString>

#include <array>
#include <optional>
#include <vector>

#include "engine_types.h"

namespace gqa::ui {

struct Snapshot {
    QString label;
    ModelConfig config;
    RunShape shape;
    QString backend;
    QString device;
    int64_t layers_run = 0;

    MemoryEstimate memory;  // analytic, full model
    Allocation allocated;   // measured, layers run
    int64_t max_context_tokens = 0;
    int64_t max_batch = 0;
    std::vector<double> curve_seq, curve_kv;  // KV bytes against sequence length

    std::array<double, kNumOps> prefill_measured_ms{}, prefill_pred_ms{};
    std::array<double, kNumOps> decode_measured_ms{}, decode_pred_ms{};
    std::vector<double> prefill_layer_ms, decode_layer_ms;  // per layer, all ops
    double prefill_ms = 0.0, decode_ms = 0.0;
    double prefill_tokens_per_s = 0.0, decode_tokens_per_s = 0.0;
    double attention_score_flops = 0.0;  // prefill attention FLOPs of the layers run

    double decodeMsPerToken() const;
};

// `result` may be null (the run failed or is still going): the analytic part is still filled in.
Snapshot makeSnapshot(const Analysis& analysis, const RunResult* result);

QJsonObject configToJson(const ModelConfig& cfg);
// Refuses a malformed object with a readable reason (missing field, wrong type, fails validate()).
std::optional<ModelConfig> configFromJson(const QJsonObject& o, QString* error);
QJsonObject snapshotToJson(const Snapshot& s);
std::optional<Snapshot> snapshotFromJson(const QJsonObject& o, QString* error);

}  // namespace gqa::ui
