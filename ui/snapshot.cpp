#include "snapshot.h"

#include <QJsonArray>

#include <cmath>

namespace gqa::ui {

Spread Spread::of(const TimingStats& t, double scale) {
    if (t.repeats < 1) return {};
    return {t.min_ms * scale, t.max_ms * scale, true};
}

Spread Spread::rateOf(const TimingStats& t, double numerator) {
    if (t.repeats < 1 || t.min_ms <= 0.0 || t.max_ms <= 0.0) return {};
    return {numerator / t.max_ms, numerator / t.min_ms, true};
}

double Snapshot::decodeMsPerToken() const {
    return shape.decode_steps > 0 ? decode_ms / static_cast<double>(shape.decode_steps) : 0.0;
}

Snapshot makeSnapshot(const Analysis& a, const RunResult* r) {
    Snapshot s;
    s.config = a.config;
    s.shape = a.shape;
    s.backend = QString::fromStdString(a.backend);
    s.device = QString::fromStdString(a.device.name);
    s.label = QStringLiteral("%1 · %2").arg(QString::fromStdString(a.config.name),
                                            QString::fromStdString(a.config.attentionKind()));
    s.memory = a.memory;
    s.max_context_tokens = a.max_context_tokens;
    s.max_batch = a.max_batch;
    s.curve_seq = a.curve_seq;
    s.curve_kv = a.curve_kv_current;
    if (!r) return s;
    s.layers_run = r->layers_run;
    s.allocated = r->allocated;
    for (int k = 0; k < kNumOps; ++k) {
        s.prefill_measured_ms[k] = r->prefill.ops[k].measured_ms;
        s.prefill_pred_ms[k] = r->prefill.ops[k].predicted_ms;
        s.decode_measured_ms[k] = r->decode.ops[k].measured_ms;
        s.decode_pred_ms[k] = r->decode.ops[k].predicted_ms;
        s.prefill_ops[k] = r->prefill.ops[k].measured;
        s.decode_ops[k] = r->decode.ops[k].measured;
    }
    s.prefill_total = r->prefill.total;
    s.decode_total = r->decode.total;
    auto sumLayers = [](const std::vector<OpTimes>& layers) {
        std::vector<double> out;
        for (const OpTimes& t : layers) {
            double sum = 0.0;
            for (double v : t) sum += v;
            out.push_back(sum);
        }
        return out;
    };
    s.prefill_layer_ms = sumLayers(r->prefill.layer_ms);
    s.decode_layer_ms = sumLayers(r->decode.layer_ms);
    s.prefill_ms = r->prefill.total_ms;
    s.decode_ms = r->decode.total_ms;
    s.prefill_tokens_per_s = r->prefill.tokens_per_s;
    s.decode_tokens_per_s = r->decode.tokens_per_s;
    s.attention_score_flops = r->prefill.ops[static_cast<int>(Op::Attention)].flops;
    return s;
}

namespace {

QJsonObject spreadToJson(const TimingStats& t) {
    QJsonObject o;
    o[QStringLiteral("median_ms")] = t.median_ms;
    o[QStringLiteral("min_ms")] = t.min_ms;
    o[QStringLiteral("max_ms")] = t.max_ms;
    o[QStringLiteral("q1_ms")] = t.q1_ms;
    o[QStringLiteral("q3_ms")] = t.q3_ms;
    o[QStringLiteral("repeats")] = t.repeats;
    return o;
}

QJsonArray toArray(const double* v, size_t n) {
    QJsonArray a;
    for (size_t i = 0; i < n; ++i) a.append(v[i]);
    return a;
}
QJsonArray toArray(const std::vector<double>& v) {
    return toArray(v.data(), v.size());
}

// Small typed readers that record the first problem and keep going with a default.
struct Reader {
    const QJsonObject& o;
    QString* error;
    QString where;
    bool ok = true;

    void fail(const QString& msg) {
        if (ok && error) *error = msg;
        ok = false;
    }
    bool has(const char* key) {
        if (!o.contains(QLatin1String(key))) {
            fail(QStringLiteral("%1: missing field \"%2\"").arg(where, QLatin1String(key)));
            return false;
        }
        return true;
    }
    double number(const char* key) {
        if (!has(key)) return 0.0;
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isDouble() || !std::isfinite(v.toDouble())) {
            fail(QStringLiteral("%1: field \"%2\" is not a number").arg(where, QLatin1String(key)));
            return 0.0;
        }
        return v.toDouble();
    }
    int64_t integer(const char* key, int64_t min = 0) {
        const double d = number(key);
        if (!ok) return 0;
        if (d != std::floor(d) || d < static_cast<double>(min) || d > 9.0e15) {
            fail(QStringLiteral("%1: field \"%2\" must be an integer >= %3").arg(where, QLatin1String(key)).arg(min));
            return 0;
        }
        return static_cast<int64_t>(d);
    }
    QString string(const char* key) {
        if (!has(key)) return {};
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isString()) {
            fail(QStringLiteral("%1: field \"%2\" is not a string").arg(where, QLatin1String(key)));
            return {};
        }
        return v.toString();
    }
    bool boolean(const char* key) {
        if (!has(key)) return false;
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isBool()) fail(QStringLiteral("%1: field \"%2\" is not true/false").arg(where, QLatin1String(key)));
        return v.toBool();
    }
    std::vector<double> numbers(const char* key) {
        std::vector<double> out;
        if (!has(key)) return out;
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isArray()) {
            fail(QStringLiteral("%1: field \"%2\" is not an array").arg(where, QLatin1String(key)));
            return out;
        }
        for (const QJsonValue& e : v.toArray()) {
            if (!e.isDouble()) {
                fail(QStringLiteral("%1: field \"%2\" holds a non-number").arg(where, QLatin1String(key)));
                return {};
            }
            out.push_back(e.toDouble());
        }
        return out;
    }
    void ops(const char* key, std::array<double, kNumOps>& out) {
        const auto v = numbers(key);
        if (!ok) return;
        if (v.size() != out.size()) {
            fail(
                QStringLiteral("%1: field \"%2\" must hold %3 numbers").arg(where, QLatin1String(key)).arg(out.size()));
            return;
        }
        std::copy(v.begin(), v.end(), out.begin());
    }
    // {"median_ms", "min_ms", "max_ms", "repeats"}: min <= median <= max, all finite and >= 0.
    TimingStats timing(const QJsonObject& t, const char* key) {
        if (!ok) return {};
        Reader sub{t, error, where + QStringLiteral(".") + QLatin1String(key)};
        TimingStats s;
        s.median_ms = sub.number("median_ms");
        s.min_ms = sub.number("min_ms");
        s.max_ms = sub.number("max_ms");
        s.q1_ms = sub.number("q1_ms");
        s.q3_ms = sub.number("q3_ms");
        s.repeats = static_cast<int>(std::min<int64_t>(sub.integer("repeats"), 1000000));
        // Quantiles are interpolated: allow their rounding, nothing more.
        const double slack = 1e-9 * std::max(1.0, s.max_ms);
        auto inside = [&](double v) { return v >= s.min_ms - slack && v <= s.max_ms + slack; };
        if (sub.ok &&
            !(s.min_ms >= 0.0 && s.min_ms <= s.max_ms && inside(s.median_ms) && inside(s.q1_ms) && inside(s.q3_ms)))
            sub.fail(QStringLiteral("%1: median_ms, q1_ms and q3_ms must lie in [min_ms, max_ms]").arg(sub.where));
        if (!sub.ok) {
            ok = false;
            return {};
        }
        return s;
    }
    QJsonObject object(const char* key) {
        if (!has(key)) return {};
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isObject()) fail(QStringLiteral("%1: field \"%2\" is not an object").arg(where, QLatin1String(key)));
        return v.toObject();
    }
};

const char* ropeScalingName(RopeScaling t) {
    switch (t) {
        case RopeScaling::None: return "none";
        case RopeScaling::Linear: return "linear";
        case RopeScaling::Llama3: return "llama3";
    }
    return "none";
}

std::optional<RopeScaling> parseRopeScaling(const QString& s) {
    for (RopeScaling t : {RopeScaling::None, RopeScaling::Linear, RopeScaling::Llama3})
        if (s == QLatin1String(ropeScalingName(t))) return t;
    return std::nullopt;
}

// Reads the storage type in field `key`; records an error naming the field when it is not a known type.
DType readDType(Reader& r, const char* key) {
    const QString text = r.string(key);
    if (!r.ok) return DType::F32;
    const auto t = parseDType(text.toStdString());
    if (!t) {
        r.fail(QStringLiteral("%1: unknown %2 \"%3\"").arg(r.where, QLatin1String(key), text));
        return DType::F32;
    }
    return *t;
}

}  // namespace

QJsonObject configToJson(const ModelConfig& c) {
    QJsonObject o;
    o[QStringLiteral("name")] = QString::fromStdString(c.name);
    o[QStringLiteral("d_model")] = static_cast<double>(c.d_model);
    o[QStringLiteral("n_layers")] = static_cast<double>(c.n_layers);
    o[QStringLiteral("n_q_heads")] = static_cast<double>(c.n_q_heads);
    o[QStringLiteral("n_kv_heads")] = static_cast<double>(c.n_kv_heads);
    o[QStringLiteral("head_dim")] = static_cast<double>(c.head_dim);
    o[QStringLiteral("ffn_dim")] = static_cast<double>(c.ffn_dim);
    o[QStringLiteral("vocab_size")] = static_cast<double>(c.vocab_size);
    o[QStringLiteral("rope_theta")] = c.rope_theta;
    o[QStringLiteral("norm_eps")] = c.norm_eps;
    o[QStringLiteral("max_seq")] = static_cast<double>(c.max_seq);
    o[QStringLiteral("tied_embeddings")] = c.tied_embeddings;
    o[QStringLiteral("architecture")] = QString::fromStdString(c.architecture);
    QJsonObject rope;
    rope[QStringLiteral("type")] = QLatin1String(ropeScalingName(c.rope_scaling.type));
    rope[QStringLiteral("factor")] = c.rope_scaling.factor;
    rope[QStringLiteral("low_freq_factor")] = c.rope_scaling.low_freq_factor;
    rope[QStringLiteral("high_freq_factor")] = c.rope_scaling.high_freq_factor;
    rope[QStringLiteral("original_max_position")] = static_cast<double>(c.rope_scaling.original_max_position);
    o[QStringLiteral("rope_scaling")] = rope;
    o[QStringLiteral("qkv_bias")] = c.qkv_bias;
    o[QStringLiteral("sliding_window")] = static_cast<double>(c.sliding_window);
    QJsonArray layer_windows;
    for (int64_t w : c.layer_windows) layer_windows.append(static_cast<double>(w));
    o[QStringLiteral("layer_windows")] = layer_windows;
    o[QStringLiteral("bos_token_id")] = c.bos_token_id;
    QJsonArray eos;
    for (int32_t id : c.eos_token_ids) eos.append(id);
    o[QStringLiteral("eos_token_ids")] = eos;
    o[QStringLiteral("weight_dtype")] = QString::fromLatin1(dtypeName(c.weight_dtype));
    o[QStringLiteral("embed_dtype")] = QString::fromLatin1(dtypeName(c.embed_dtype));
    o[QStringLiteral("norm_dtype")] = QString::fromLatin1(dtypeName(c.norm_dtype));
    o[QStringLiteral("kv_dtype")] = QString::fromLatin1(dtypeName(c.kv_dtype));
    o[QStringLiteral("source")] = QString::fromStdString(c.source);
    return o;
}

std::optional<ModelConfig> configFromJson(const QJsonObject& o, QString* error) {
    Reader r{o, error, QStringLiteral("config")};
    ModelConfig c;
    c.name = r.string("name").toStdString();
    c.d_model = r.integer("d_model", 1);
    c.n_layers = r.integer("n_layers", 1);
    c.n_q_heads = r.integer("n_q_heads", 1);
    c.n_kv_heads = r.integer("n_kv_heads", 1);
    c.head_dim = r.integer("head_dim", 1);
    c.ffn_dim = r.integer("ffn_dim", 1);
    c.vocab_size = r.integer("vocab_size", 1);
    c.rope_theta = r.number("rope_theta");
    c.norm_eps = r.number("norm_eps");
    c.max_seq = r.integer("max_seq", 1);
    c.tied_embeddings = r.boolean("tied_embeddings");
    if (!o.contains(QStringLiteral("weight_dtype")) && o.contains(QStringLiteral("dtype"))) {
        // Version 1: one "dtype" for weights and KV cache, and none of the fields below (their defaults).
        c.weight_dtype = c.embed_dtype = c.kv_dtype = readDType(r, "dtype");
    } else {
        c.architecture = r.string("architecture").toStdString();
        const QJsonObject rope_json = r.object("rope_scaling");
        Reader rope{rope_json, error, QStringLiteral("config.rope_scaling")};
        if (r.ok) {
            const QString type = rope.string("type");
            c.rope_scaling.factor = rope.number("factor");
            c.rope_scaling.low_freq_factor = rope.number("low_freq_factor");
            c.rope_scaling.high_freq_factor = rope.number("high_freq_factor");
            c.rope_scaling.original_max_position = rope.integer("original_max_position", 0);
            if (const auto t = parseRopeScaling(type))
                c.rope_scaling.type = *t;
            else
                rope.fail(QStringLiteral("config.rope_scaling: unknown type \"%1\"").arg(type));
            r.ok = r.ok && rope.ok;
        }
        c.qkv_bias = r.boolean("qkv_bias");
        c.sliding_window = r.integer("sliding_window", 0);
        // Absent in sessions saved before per-layer windows: every layer then uses sliding_window.
        const std::vector<double> windows =
            o.contains(QStringLiteral("layer_windows")) ? r.numbers("layer_windows") : std::vector<double>{};
        for (double w : windows) {
            if (w != std::floor(w) || w < 0 || w > 2147483647.0) {
                r.fail(QStringLiteral("config: field \"layer_windows\" must hold windows >= 0"));
                break;
            }
            c.layer_windows.push_back(static_cast<int64_t>(w));
        }
        c.bos_token_id = static_cast<int32_t>(r.integer("bos_token_id", -1));
        for (double id : r.numbers("eos_token_ids")) {
            if (id != std::floor(id) || id < 0 || id > 2147483647.0) {
                r.fail(QStringLiteral("config: field \"eos_token_ids\" must hold token ids"));
                break;
            }
            c.eos_token_ids.push_back(static_cast<int32_t>(id));
        }
        c.weight_dtype = readDType(r, "weight_dtype");
        c.embed_dtype = readDType(r, "embed_dtype");
        c.norm_dtype = readDType(r, "norm_dtype");
        c.kv_dtype = readDType(r, "kv_dtype");
    }
    c.source = r.string("source").toStdString();
    if (!r.ok) return std::nullopt;
    if (Status s = c.validate(); !s) {
        if (error) *error = QStringLiteral("config: %1").arg(QString::fromStdString(s.message()));
        return std::nullopt;
    }
    return c;
}

QJsonObject snapshotToJson(const Snapshot& s) {
    QJsonObject o;
    o[QStringLiteral("label")] = s.label;
    o[QStringLiteral("config")] = configToJson(s.config);
    o[QStringLiteral("batch")] = static_cast<double>(s.shape.batch);
    o[QStringLiteral("prompt_len")] = static_cast<double>(s.shape.prompt_len);
    o[QStringLiteral("decode_steps")] = static_cast<double>(s.shape.decode_steps);
    o[QStringLiteral("backend")] = s.backend;
    o[QStringLiteral("device")] = s.device;
    o[QStringLiteral("layers_run")] = static_cast<double>(s.layers_run);
    QJsonObject mem;
    mem[QStringLiteral("param_count")] = static_cast<double>(s.memory.param_count);
    mem[QStringLiteral("weight_bytes")] = static_cast<double>(s.memory.weight_bytes);
    mem[QStringLiteral("kv_cache_bytes")] = static_cast<double>(s.memory.kv_cache_bytes);
    mem[QStringLiteral("kv_bytes_per_token")] = static_cast<double>(s.memory.kv_bytes_per_token);
    mem[QStringLiteral("activation_bytes")] = static_cast<double>(s.memory.activation_bytes);
    mem[QStringLiteral("total_bytes")] = static_cast<double>(s.memory.total_bytes);
    o[QStringLiteral("memory")] = mem;
    QJsonObject alloc;
    alloc[QStringLiteral("weight_bytes")] = static_cast<double>(s.allocated.weight_bytes);
    alloc[QStringLiteral("kv_cache_bytes")] = static_cast<double>(s.allocated.kv_cache_bytes);
    alloc[QStringLiteral("activation_bytes")] = static_cast<double>(s.allocated.activation_bytes);
    o[QStringLiteral("allocated")] = alloc;
    o[QStringLiteral("max_context_tokens")] = static_cast<double>(s.max_context_tokens);
    o[QStringLiteral("max_batch")] = static_cast<double>(s.max_batch);
    o[QStringLiteral("curve_seq")] = toArray(s.curve_seq);
    o[QStringLiteral("curve_kv")] = toArray(s.curve_kv);
    o[QStringLiteral("prefill_measured_ms")] = toArray(s.prefill_measured_ms.data(), kNumOps);
    o[QStringLiteral("prefill_pred_ms")] = toArray(s.prefill_pred_ms.data(), kNumOps);
    o[QStringLiteral("decode_measured_ms")] = toArray(s.decode_measured_ms.data(), kNumOps);
    o[QStringLiteral("decode_pred_ms")] = toArray(s.decode_pred_ms.data(), kNumOps);
    o[QStringLiteral("prefill_layer_ms")] = toArray(s.prefill_layer_ms);
    o[QStringLiteral("decode_layer_ms")] = toArray(s.decode_layer_ms);
    o[QStringLiteral("prefill_ms")] = s.prefill_ms;
    o[QStringLiteral("decode_ms")] = s.decode_ms;
    o[QStringLiteral("prefill_tokens_per_s")] = s.prefill_tokens_per_s;
    o[QStringLiteral("decode_tokens_per_s")] = s.decode_tokens_per_s;
    o[QStringLiteral("attention_score_flops")] = s.attention_score_flops;
    // A spread that is not known (a snapshot loaded from an older session) is left out, as it was there.
    if (s.prefill_total.repeats > 0) o[QStringLiteral("prefill_total")] = spreadToJson(s.prefill_total);
    if (s.decode_total.repeats > 0) o[QStringLiteral("decode_total")] = spreadToJson(s.decode_total);
    QJsonArray pre_ops, dec_ops;
    for (int k = 0; k < kNumOps; ++k) {
        pre_ops.append(spreadToJson(s.prefill_ops[k]));
        dec_ops.append(spreadToJson(s.decode_ops[k]));
    }
    o[QStringLiteral("prefill_ops")] = pre_ops;
    o[QStringLiteral("decode_ops")] = dec_ops;
    return o;
}

std::optional<Snapshot> snapshotFromJson(const QJsonObject& o, QString* error) {
    Reader r{o, error, QStringLiteral("pinned")};
    Snapshot s;
    s.label = r.string("label");
    const QJsonObject cfg = r.object("config");
    if (!r.ok) return std::nullopt;
    auto c = configFromJson(cfg, error);
    if (!c) return std::nullopt;
    s.config = *c;
    s.shape.batch = r.integer("batch", 1);
    s.shape.prompt_len = r.integer("prompt_len", 1);
    s.shape.decode_steps = r.integer("decode_steps", 0);
    s.backend = r.string("backend");
    s.device = r.string("device");
    s.layers_run = r.integer("layers_run", 0);
    const QJsonObject mem = r.object("memory");
    const QJsonObject alloc = r.object("allocated");
    s.max_context_tokens = r.integer("max_context_tokens", 0);
    s.max_batch = r.integer("max_batch", 0);
    s.curve_seq = r.numbers("curve_seq");
    s.curve_kv = r.numbers("curve_kv");
    r.ops("prefill_measured_ms", s.prefill_measured_ms);
    r.ops("prefill_pred_ms", s.prefill_pred_ms);
    r.ops("decode_measured_ms", s.decode_measured_ms);
    r.ops("decode_pred_ms", s.decode_pred_ms);
    s.prefill_layer_ms = r.numbers("prefill_layer_ms");
    s.decode_layer_ms = r.numbers("decode_layer_ms");
    s.prefill_ms = r.number("prefill_ms");
    s.decode_ms = r.number("decode_ms");
    s.prefill_tokens_per_s = r.number("prefill_tokens_per_s");
    s.decode_tokens_per_s = r.number("decode_tokens_per_s");
    s.attention_score_flops = r.number("attention_score_flops");
    // Spreads: optional (sessions saved before they were kept have none: the medians alone, repeats 0),
    // checked when present.
    s.prefill_total.median_ms = s.prefill_ms;
    s.decode_total.median_ms = s.decode_ms;
    if (o.contains(QStringLiteral("prefill_total")))
        s.prefill_total = r.timing(r.object("prefill_total"), "prefill_total");
    if (o.contains(QStringLiteral("decode_total"))) s.decode_total = r.timing(r.object("decode_total"), "decode_total");
    for (const auto& [key, ops] : {std::pair{"prefill_ops", &s.prefill_ops}, {"decode_ops", &s.decode_ops}}) {
        if (!o.contains(QLatin1String(key))) continue;
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isArray() || v.toArray().size() != kNumOps) {
            r.fail(QStringLiteral("pinned: field \"%1\" must hold %2 timings").arg(QLatin1String(key)).arg(kNumOps));
            break;
        }
        for (int k = 0; k < kNumOps; ++k) (*ops)[k] = r.timing(v.toArray().at(k).toObject(), key);
    }
    if (!r.ok) return std::nullopt;
    if (s.curve_seq.size() != s.curve_kv.size()) {
        if (error) *error = QStringLiteral("pinned: curve_seq and curve_kv differ in length");
        return std::nullopt;
    }
    Reader m{mem, error, QStringLiteral("pinned.memory")};
    s.memory.param_count = m.integer("param_count");
    s.memory.weight_bytes = m.integer("weight_bytes");
    s.memory.kv_cache_bytes = m.integer("kv_cache_bytes");
    s.memory.kv_bytes_per_token = m.integer("kv_bytes_per_token");
    s.memory.activation_bytes = m.integer("activation_bytes");
    s.memory.total_bytes = m.integer("total_bytes");
    if (!m.ok) return std::nullopt;
    Reader a{alloc, error, QStringLiteral("pinned.allocated")};
    s.allocated.weight_bytes = a.integer("weight_bytes");
    s.allocated.kv_cache_bytes = a.integer("kv_cache_bytes");
    s.allocated.activation_bytes = a.integer("activation_bytes");
    if (!a.ok) return std::nullopt;
    return s;
}

}  // namespace gqa::ui
