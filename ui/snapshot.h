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
    // The spread behind the medians above (repeats 0: not known, e.g. a session saved before spreads were kept;
    // the totals' medians are prefill_ms and decode_ms either way).
    TimingStats prefill_total, decode_total;                       // whole phases (decode: all steps)
    std::array<TimingStats, kNumOps> prefill_ops{}, decode_ops{};  // per op, summed over the layers run

    double decodeMsPerToken() const;
};

// A measured value's interval [lo, hi] (min to max over repeats, in the value's own unit); empty when the
// spread is not known. Two numbers whose intervals overlap cannot be told apart at these repeat counts.
struct Spread {
    double lo = 0.0, hi = 0.0;
    bool known = false;
    static Spread of(const TimingStats& t, double scale = 1.0);  // [min, max] * scale; unknown when repeats < 1
    // Of a rate that is `numerator / ms`: the interval inverts (the slowest repeat gives the lowest rate).
    static Spread rateOf(const TimingStats& t, double numerator);
    bool overlaps(const Spread& o) const { return known && o.known && lo <= o.hi && o.lo <= hi; }
};

// `result` may be null (the run failed or is still going): the analytic part is still filled in.
Snapshot makeSnapshot(const Analysis& analysis, const RunResult* result);

QJsonObject configToJson(const ModelConfig& cfg);
// Refuses a malformed object with a readable reason (missing field, wrong type, fails validate()).
std::optional<ModelConfig> configFromJson(const QJsonObject& o, QString* error);
QJsonObject snapshotToJson(const Snapshot& s);
std::optional<Snapshot> snapshotFromJson(const QJsonObject& o, QString* error);

}  // namespace gqa::ui
