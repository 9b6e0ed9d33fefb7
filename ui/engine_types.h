// Plain value types that cross the GUI <-> worker boundary, and their Qt metatype registration.
#pragma once

#include <QMetaType>
#include <QString>
#include <QVector>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gqa/backend.h"
#include "gqa/config.h"
#include "gqa/convert.h"
#include "gqa/engine.h"
#include "gqa/model.h"
#include "gqa/memory_model.h"
#include "gqa/tradeoff.h"

namespace gqa::ui {

using ModelPtr = std::shared_ptr<const Model>;

// Everything one computation needs. The id is assigned by the controller.
struct RunParams {
    ModelConfig config;
    // A loaded checkpoint; null = a synthetic model built from config. When config.n_kv_heads differs from
    // the checkpoint's, the worker converts it (convert_method) before the run.
    ModelPtr model;
    ConvertMethod convert_method = ConvertMethod::MeanPool;
    std::vector<int32_t> prompt_tokens;  // (T) of a real model's prompt; empty = synthetic ids
    SamplingOptions sampling;            // how decode steps pick tokens (temperature 0 = greedy)
    RunShape shape;
    QString backend = QStringLiteral("cpu");
    int64_t run_layers = 0;  // 0 = as many as fit; otherwise this depth, shrunk to what fits
    int64_t map_layer = 0;   // the layer whose attention maps the user looks at
    // Maps of every layer run are kept when they take at most this many bytes; otherwise only map_layer's.
    int64_t maps_budget_bytes = int64_t{32} << 20;
    // Maps are never kept when one layer's take more than this (they are not in the memory model's estimate).
    int64_t maps_limit_bytes = int64_t{512} << 20;
    bool want_maps = true;
};

// The analytic picture of the whole model (memory model, cost model x ceilings), computed on the
// worker before the run so that presets far too big for the machine still show something at once.
struct Analysis {
    ModelConfig config;
    RunShape shape;
    QString backend;
    DeviceInfo device;
    Ceilings ceilings;
    bool ceilings_measured = false;  // false: taken from the settings cache, measurement pending

    MemoryEstimate memory;      // full model at batch x (prompt + decode)
    MemoryEstimate memory_mha;  // same model with n_kv = n_q
    MemoryEstimate memory_mqa;  // same model with n_kv = 1
    FitReport fit;
    int64_t max_context_tokens = 0;  // at the chosen batch
    int64_t max_batch = 0;           // at the chosen prompt + decode length

    // KV-cache bytes (batch as chosen) against sequence length.
    std::vector<double> curve_seq;
    std::vector<double> curve_kv_mha, curve_kv_current, curve_kv_mqa;

    // Roofline prediction of the full model (all layers), per op summed over layers, in ms.
    std::array<double, kNumOps> prefill_pred_ms{};
    std::array<double, kNumOps> decode_pred_ms{};  // all decode steps together
    double prefill_pred_total_ms = 0.0;
    double decode_pred_total_ms = 0.0;
    double attention_score_flops = 0.0;  // QK^T + PV FLOPs of the prefill, whole model

    int64_t layers_planned = 0;     // layers the run will instantiate
    double run_pred_ms = 0.0;       // roofline estimate of the planned run (prefill + decode)
    int64_t progress_total = 0;     // layers_done when the planned run is complete
    MapRequest prompt_maps;         // what the worker asks the engine for
    MapRequest decode_maps;
    int64_t map_bytes = 0;          // float32 maps those requests keep (beside the memory model's total)
    QString maps_note;              // why no maps are kept, when so
};

struct SweepPoint {
    int64_t n_kv_heads = 0;
    int64_t group_size = 0;
    int64_t layers_run = 0;
    double prefill_ms = 0.0;              // measured, layers run
    double decode_ms_per_token = 0.0;     // measured, layers run
    double decode_pred_ms_per_token = 0.0;  // roofline, layers run
    double decode_tokens_per_s = 0.0;
    int64_t kv_cache_bytes = 0;           // analytic, full model
};

struct BackendChoice {
    QString name;
    bool available = false;
    QString device;
    QString reason;
};

struct RunProgress {
    quint64 id = 0;
    int64_t layers_done = 0;
    int64_t layers_total = 0;
    bool running = false;
};

// The trade-off sweep as the GUI asks for it. A synthetic model is converted to MHA on the worker and swept
// from there; a loaded checkpoint (base.model) is swept itself, on its prompt (base.prompt_tokens) or on a
// text the user picked (quality_text, tokenized on the worker), by both conversion methods.
struct TradeoffParams {
    RunParams base;  // the live configuration (its n_kv_heads is ignored: the sweep starts from MHA / the checkpoint)
    ConvertMethod method = ConvertMethod::MeanPool;
    QString quality_text;    // real models: the text whose perplexity is measured; empty = the prompt
    QString quality_source;  // where quality_text came from (a file name), for the view
};

// What the Trade-off view shows: the engine's sweep, plus the prompt attention maps (sequence 0, every
// layer run, every query head) of each grouping's converted model, aligned with result.points.
struct TradeoffOutcome {
    TradeoffResult result;                     // result.config: the starting model (MHA or the checkpoint), full depth
    std::vector<std::vector<LayerMaps>> maps;  // [point][layer]: (1, Hq, T, T)
    QString depth_note;                        // why fewer layers / a shorter prompt than the live run
    // Real models: the checkpoint swept (what "Save converted model…" converts), the other method's sweep
    // (quality only), and what the perplexity was measured on.
    ModelPtr model;
    std::optional<TradeoffResult> other_method;
    QString quality_source;  // "the prompt" or a file name
};

// "Save converted model…": the checkpoint at another KV-head count, written as a Hugging Face directory.
struct SaveConvertedParams {
    ModelPtr model;
    int64_t n_kv_heads = 0;
    ConvertMethod method = ConvertMethod::MeanPool;
    QString dir;
};

using RunResultPtr = std::shared_ptr<const RunResult>;
using TradeoffOutcomePtr = std::shared_ptr<const TradeoffOutcome>;
using AnalysisPtr = std::shared_ptr<const Analysis>;

void registerMetaTypes();

// True when a and b are the same model apart from its grouping, context and storage types (the views of one
// stay meaningful while the other is computed).
bool sameModelShape(const ModelConfig& a, const ModelConfig& b);
// The progress bar's format for a run of `layers` layers and `decode_steps` steps: its counter counts one per
// layer of the prefill and one per layer of every decode step.
QString progressFormat(int64_t layers, int64_t decode_steps);

QString bytesText(int64_t bytes);   // "1.50 GiB"
QString countText(double n);        // 1234567 -> "1,234,567"
QString msText(double ms);          // "12.3 ms" / "1.20 s"
QString rateText(double per_s, const char* unit);  // "12.3 G<unit>/s"
// What the model stores in which type: "weights bf16, KV cache bf16" (the embedding named when it differs).
QString storageText(const ModelConfig& c);

}  // namespace gqa::ui

Q_DECLARE_METATYPE(gqa::ui::RunParams)
Q_DECLARE_METATYPE(gqa::ui::ModelPtr)
Q_DECLARE_METATYPE(gqa::ui::SweepPoint)
Q_DECLARE_METATYPE(gqa::ui::BackendChoice)
Q_DECLARE_METATYPE(QVector<gqa::ui::BackendChoice>)
Q_DECLARE_METATYPE(gqa::ui::RunResultPtr)
Q_DECLARE_METATYPE(gqa::ui::AnalysisPtr)
Q_DECLARE_METATYPE(gqa::ui::TradeoffOutcomePtr)
Q_DECLARE_METATYPE(gqa::Ceilings)
