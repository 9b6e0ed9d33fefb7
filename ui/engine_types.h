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
#include "gqa/jobs.h"
#include "gqa/memory_model.h"
#include "gqa/model.h"
#include "gqa/tradeoff.h"

namespace gqa::ui {

using ModelPtr = std::shared_ptr<const Model>;

// What crosses to the worker and back is the engine's own request and result types (gqa/jobs.h): the worker
// only queues, supersedes and forwards them.
using RunParams = LiveRunRequest;  // everything one live run needs; the id is assigned by the controller
using Analysis = RunPlan;          // the analytic picture, computed on the worker before the run
using SweepPoint = KvSweepPoint;

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

// The trade-off sweep as the GUI asks for it: a synthetic model from MHA (from_mha), a loaded checkpoint
// itself on its prompt or a text the user picked, by both conversion methods (tradeoffParamsFor builds it).
using TradeoffParams = TradeoffJobRequest;
// What the Trade-off view shows: the engine's sweep with every grouping's prompt maps.
using TradeoffOutcome = gqa::TradeoffOutcome;
// The Head statistics and Head diversity tabs: the live model and a coarser grouping of it, analysed.
using GroupingAnalysisPtr = std::shared_ptr<const GroupingAnalysis>;

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

QString bytesText(int64_t bytes);                  // "1.50 GiB"
QString countText(double n);                       // 1234567 -> "1,234,567"
QString msText(double ms);                         // "12.3 ms" / "1.20 s"
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
Q_DECLARE_METATYPE(gqa::ui::GroupingAnalysisPtr)
Q_DECLARE_METATYPE(gqa::Ceilings)
