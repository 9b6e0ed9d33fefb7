// The whole session as JSON: configuration, run shape, view state and the pinned run.
#pragma once

#include <QByteArray>
#include <QString>

#include <optional>

#include "snapshot.h"

namespace gqa::ui {

struct ViewState {
    int tab = 0;
    int map_layer = 0;
    int attention_mode = 0;  // 0 grid of heads, 1 one head
    int head = 0;
    bool log_scale = false;
    bool decode_phase = false;
    int decode_step = 0;
};

struct Session {
    QString preset;
    ModelConfig config;
    RunShape shape;
    QString backend = QStringLiteral("cpu");
    int64_t run_layers = 0;
    // A real model: its checkpoint path and the prompt (empty path = the synthetic model above). A session
    // whose checkpoint is gone still opens (synthetic, with a message naming the missing path).
    QString model_path;
    QString prompt;
    ViewState view;
    std::optional<Snapshot> pinned;
};

inline constexpr const char* kSessionFormat = "gqa-lab-session";
// 2: the config names each storage type (weights, embedding, norms, KV cache); 1 (one "dtype") still loads.
inline constexpr int kSessionVersion = 2;

QByteArray sessionToJson(const Session& s);
// Refuses anything malformed (not JSON, wrong format tag or version, missing or mistyped fields, a config
// that fails validate(), a shape that does not fit the config) with a readable reason.
std::optional<Session> sessionFromJson(const QByteArray& json, QString* error);

// Atomic (QSaveFile): a failed save never leaves a half-written file behind.
bool saveSessionFile(const Session& s, const QString& path, QString* error);
std::optional<Session> loadSessionFile(const QString& path, QString* error);

}  // namespace gqa::ui
