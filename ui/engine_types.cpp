#include "engine_types.h"

#include <QLocale>
#include <QObject>

#include <cmath>

namespace gqa::ui {

void registerMetaTypes() {
    qRegisterMetaType<RunParams>();
    qRegisterMetaType<SweepPoint>();
    qRegisterMetaType<GroupingAnalysisPtr>();
    qRegisterMetaType<BackendChoice>();
    qRegisterMetaType<QVector<BackendChoice>>();
    qRegisterMetaType<RunResultPtr>();
    qRegisterMetaType<AnalysisPtr>();
    qRegisterMetaType<TradeoffOutcomePtr>();
    qRegisterMetaType<Ceilings>();
    qRegisterMetaType<ModelPtr>();
}

QString bytesText(int64_t bytes) {
    return QString::fromStdString(formatBytes(bytes));
}

QString countText(double n) {
    return QLocale(QLocale::English).toString(static_cast<qlonglong>(std::llround(n)));
}

QString msText(double ms) {
    if (!std::isfinite(ms)) return QStringLiteral("–");
    if (ms >= 1000.0) return QStringLiteral("%1 s").arg(ms / 1000.0, 0, 'f', 2);
    if (ms >= 10.0) return QStringLiteral("%1 ms").arg(ms, 0, 'f', 1);
    if (ms >= 0.1) return QStringLiteral("%1 ms").arg(ms, 0, 'f', 2);
    return QStringLiteral("%1 µs").arg(ms * 1000.0, 0, 'f', 1);
}

QString storageText(const ModelConfig& c) {
    QString weights = QString::fromLatin1(dtypeName(c.weight_dtype));
    if (c.embed_dtype != c.weight_dtype)
        weights += QObject::tr(" (embedding %1)").arg(QString::fromLatin1(dtypeName(c.embed_dtype)));
    return QObject::tr("weights %1, KV cache %2").arg(weights, QString::fromLatin1(dtypeName(c.kv_dtype)));
}

QString rateText(double per_s, const char* unit) {
    const char* prefixes[] = {"", "k", "M", "G", "T", "P"};
    int i = 0;
    while (std::fabs(per_s) >= 1000.0 && i < 5) {
        per_s /= 1000.0;
        ++i;
    }
    return QStringLiteral("%1 %2%3/s")
        .arg(per_s, 0, 'f', per_s >= 100 ? 0 : 1)
        .arg(QLatin1String(prefixes[i]), QLatin1String(unit));
}

bool sameModelShape(const ModelConfig& a, const ModelConfig& b) {
    return a.name == b.name && a.n_layers == b.n_layers && a.n_q_heads == b.n_q_heads && a.head_dim == b.head_dim &&
           a.d_model == b.d_model;
}

QString progressFormat(int64_t layers, int64_t decode_steps) {
    const QString depth = layers == 1 ? QObject::tr("1 layer") : QObject::tr("%1 layers").arg(layers);
    if (decode_steps <= 0) return QObject::tr("prefill: %v of %m layers");
    return QObject::tr("%v of %m layer passes (%1 × prefill + %2 decode steps)").arg(depth).arg(decode_steps);
}

}  // namespace gqa::ui
