#include "session.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace gqa::ui {

namespace {

bool readInt(const QJsonObject& o, const char* key, int64_t min, int64_t max, int64_t* out, QString* error,
             const QString& where) {
    const QJsonValue v = o.value(QLatin1String(key));
    if (!v.isDouble() || v.toDouble() < static_cast<double>(min) || v.toDouble() > static_cast<double>(max) ||
        v.toDouble() !=
            static_cast<double>(static_cast<int64_t>(v.toDouble()))) {  // range first: the cast is UB outside int64
        if (error)
            *error = QStringLiteral("%1: field \"%2\" must be an integer in [%3, %4]")
                         .arg(where, QLatin1String(key))
                         .arg(min)
                         .arg(max);
        return false;
    }
    *out = static_cast<int64_t>(v.toDouble());
    return true;
}

}  // namespace

QByteArray sessionToJson(const Session& s) {
    QJsonObject o;
    o[QStringLiteral("format")] = QLatin1String(kSessionFormat);
    o[QStringLiteral("version")] = kSessionVersion;
    o[QStringLiteral("preset")] = s.preset;
    o[QStringLiteral("config")] = configToJson(s.config);
    QJsonObject shape;
    shape[QStringLiteral("batch")] = static_cast<double>(s.shape.batch);
    shape[QStringLiteral("prompt_len")] = static_cast<double>(s.shape.prompt_len);
    shape[QStringLiteral("decode_steps")] = static_cast<double>(s.shape.decode_steps);
    o[QStringLiteral("shape")] = shape;
    o[QStringLiteral("backend")] = s.backend;
    o[QStringLiteral("run_layers")] = static_cast<double>(s.run_layers);
    if (!s.model_path.isEmpty()) {
        o[QStringLiteral("model_path")] = s.model_path;
        o[QStringLiteral("prompt")] = s.prompt;
    }
    QJsonObject view;
    view[QStringLiteral("tab")] = s.view.tab;
    view[QStringLiteral("map_layer")] = s.view.map_layer;
    view[QStringLiteral("attention_mode")] = s.view.attention_mode;
    view[QStringLiteral("head")] = s.view.head;
    view[QStringLiteral("log_scale")] = s.view.log_scale;
    view[QStringLiteral("decode_phase")] = s.view.decode_phase;
    view[QStringLiteral("decode_step")] = s.view.decode_step;
    o[QStringLiteral("view")] = view;
    o[QStringLiteral("pinned")] = s.pinned ? QJsonValue(snapshotToJson(*s.pinned)) : QJsonValue(QJsonValue::Null);
    return QJsonDocument(o).toJson(QJsonDocument::Indented);
}

std::optional<Session> sessionFromJson(const QByteArray& json, QString* error) {
    QJsonParseError perr;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &perr);
    if (perr.error != QJsonParseError::NoError) {
        if (error) *error = QStringLiteral("not valid JSON (%1 at offset %2)").arg(perr.errorString()).arg(perr.offset);
        return std::nullopt;
    }
    if (!doc.isObject()) {
        if (error) *error = QStringLiteral("not a GQA Lab session (the top level is not an object)");
        return std::nullopt;
    }
    const QJsonObject o = doc.object();
    if (o.value(QStringLiteral("format")).toString() != QLatin1String(kSessionFormat)) {
        if (error)
            *error =
                QStringLiteral("not a GQA Lab session (\"format\" is not \"%1\")").arg(QLatin1String(kSessionFormat));
        return std::nullopt;
    }
    if (const int version = o.value(QStringLiteral("version")).toInt(-1); version < 1 || version > kSessionVersion) {
        if (error) *error = QStringLiteral("unsupported session version (expected 1 to %1)").arg(kSessionVersion);
        return std::nullopt;
    }
    Session s;
    s.preset = o.value(QStringLiteral("preset")).toString();
    s.model_path = o.value(QStringLiteral("model_path")).toString();  // optional
    s.prompt = o.value(QStringLiteral("prompt")).toString();
    if (!o.value(QStringLiteral("config")).isObject()) {
        if (error) *error = QStringLiteral("missing \"config\" object");
        return std::nullopt;
    }
    auto cfg = configFromJson(o.value(QStringLiteral("config")).toObject(), error);
    if (!cfg) return std::nullopt;
    s.config = *cfg;

    const QJsonObject shape = o.value(QStringLiteral("shape")).toObject();
    const QString where = QStringLiteral("shape");
    if (!readInt(shape, "batch", 1, 1 << 20, &s.shape.batch, error, where) ||
        !readInt(shape, "prompt_len", 1, int64_t{1} << 40, &s.shape.prompt_len, error, where) ||
        !readInt(shape, "decode_steps", 0, int64_t{1} << 40, &s.shape.decode_steps, error, where))
        return std::nullopt;
    if (Status st = s.shape.validate(s.config); !st) {
        if (error) *error = QStringLiteral("shape: %1").arg(QString::fromStdString(st.message()));
        return std::nullopt;
    }
    const QJsonValue backend = o.value(QStringLiteral("backend"));
    if (!backend.isString() ||
        (backend.toString() != QLatin1String("cpu") && backend.toString() != QLatin1String("cuda"))) {
        if (error) *error = QStringLiteral("\"backend\" must be \"cpu\" or \"cuda\"");
        return std::nullopt;
    }
    s.backend = backend.toString();
    if (!readInt(o, "run_layers", 0, s.config.n_layers, &s.run_layers, error, QStringLiteral("session")))
        return std::nullopt;

    const QJsonObject view = o.value(QStringLiteral("view")).toObject();
    s.view.tab = view.value(QStringLiteral("tab")).toInt(0);
    s.view.map_layer = view.value(QStringLiteral("map_layer")).toInt(0);
    s.view.attention_mode = view.value(QStringLiteral("attention_mode")).toInt(0);
    s.view.head = view.value(QStringLiteral("head")).toInt(0);
    s.view.log_scale = view.value(QStringLiteral("log_scale")).toBool(false);
    s.view.decode_phase = view.value(QStringLiteral("decode_phase")).toBool(false);
    s.view.decode_step = view.value(QStringLiteral("decode_step")).toInt(0);

    const QJsonValue pinned = o.value(QStringLiteral("pinned"));
    if (pinned.isObject()) {
        auto snap = snapshotFromJson(pinned.toObject(), error);
        if (!snap) return std::nullopt;
        s.pinned = std::move(*snap);
    } else if (!pinned.isNull() && !pinned.isUndefined()) {
        if (error) *error = QStringLiteral("\"pinned\" must be an object or null");
        return std::nullopt;
    }
    return s;
}

bool saveSessionFile(const Session& s, const QString& path, QString* error) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        if (error) *error = file.errorString();
        return false;
    }
    const QByteArray data = sessionToJson(s);
    if (file.write(data) != data.size()) {
        if (error) *error = file.errorString();
        file.cancelWriting();
        return false;
    }
    if (!file.commit()) {
        if (error) *error = file.errorString();
        return false;
    }
    return true;
}

std::optional<Session> loadSessionFile(const QString& path, QString* error) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error) *error = file.errorString();
        return std::nullopt;
    }
    if (file.size() > (int64_t{64} << 20)) {
        if (error) *error = QStringLiteral("file is larger than 64 MiB; not a session");
        return std::nullopt;
    }
    return sessionFromJson(file.readAll(), error);
}

}  // namespace gqa::ui
