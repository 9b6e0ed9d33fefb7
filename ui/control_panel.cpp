#include "control_panel.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <algorithm>
#include <cstdlib>

#include "gqa/presets.h"
#include "teaching_text.h"

namespace gqa::ui {

namespace {

constexpr int kMaxHeads = 256;
constexpr int kMaxLayers = 512;
constexpr int kMaxBatch = 1024;
const int64_t kHeadDims[] = {16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256};
// Types the storage control offers; each is valid for the weights and the KV cache alike.
constexpr DType kStorageTypes[] = {DType::BF16, DType::F16, DType::F32};

// Default run depth for a preset: all layers for small models, one layer for the big published ones
// (their synthetic weights take seconds to build on a CPU); the user can raise it.
int64_t defaultRunLayers(const ModelConfig& cfg) {
    return estimateMemory(cfg, 1, 1).weight_bytes <= (int64_t{1} << 30) ? 0 : 1;
}

QString kindText(const ModelConfig& c) {
    const int64_t g = c.groupSize();
    if (c.n_kv_heads == c.n_q_heads) return QObject::tr("MHA — every query head has its own K/V (g = 1)");
    if (c.n_kv_heads == 1) return QObject::tr("MQA — all %1 query heads share one K/V head (g = %1)").arg(g);
    return QObject::tr("GQA (group size g = %1) — %2 groups of %1 query heads").arg(g).arg(c.n_kv_heads);
}

// A grey, wrapping explanation under a control (what limits it, what it does to this model).
QLabel* noteLabel(QWidget* parent, const QString& name) {
    auto* label = new QLabel(parent);
    label->setObjectName(name);
    label->setWordWrap(true);
    label->setStyleSheet(QStringLiteral("color: #555;"));
    return label;
}
}  // namespace

ControlPanel::ControlPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* model_box = new QGroupBox(tr("Model"), this);
    auto* mf = new QFormLayout(model_box);
    m_preset = new QComboBox(model_box);
    for (const std::string& n : presetNames()) m_preset->addItem(QString::fromStdString(n));
    m_preset->setToolTip(tr("Published model shapes; \"teaching\" is small enough to run instantly."));
    mf->addRow(tr("Synthetic model"), m_preset);
    m_modelLabel = new QLabel(model_box);
    m_modelLabel->setObjectName(QStringLiteral("modelName"));
    m_modelLabel->setWordWrap(true);
    m_modelLabel->setTextFormat(Qt::RichText);
    mf->addRow(m_modelLabel);

    m_qHeads = new QSpinBox(model_box);
    m_qHeads->setRange(1, kMaxHeads);
    m_qHeads->setToolTip(tr("n_q: query heads per layer. Each has its own W_Q slice and its own attention map."));
    mf->addRow(tr("Query heads"), m_qHeads);

    m_kvHeads = new QComboBox(model_box);
    m_kvHeads->setToolTip(teach::kvHeadsControl());
    mf->addRow(tr("KV heads"), m_kvHeads);

    m_kind = new QLabel(model_box);
    m_kind->setObjectName(QStringLiteral("attentionKind"));
    m_kind->setWordWrap(true);
    m_kind->setToolTip(teach::kinds());
    QFont kf = m_kind->font();
    kf.setBold(true);
    m_kind->setFont(kf);
    mf->addRow(m_kind);

    m_layers = new QSpinBox(model_box);
    m_layers->setRange(1, kMaxLayers);
    m_layers->setToolTip(tr("Decoder layers of the model. The KV cache grows linearly with depth."));
    mf->addRow(tr("Layers"), m_layers);

    m_headDim = new QComboBox(model_box);
    m_headDim->setToolTip(tr("Dimension of every query, key and value head (even, for RoPE)."));
    mf->addRow(tr("head_dim"), m_headDim);

    m_derived = new QLabel(model_box);
    m_derived->setWordWrap(true);
    m_derived->setStyleSheet(QStringLiteral("color: #555;"));
    mf->addRow(m_derived);

    m_storage = new QComboBox(model_box);
    for (DType t : kStorageTypes) m_storage->addItem(QString::fromLatin1(dtypeName(t)), static_cast<int>(t));
    m_storage->setToolTip(
        tr("Storage type of the weight matrices, the embedding / LM head and the KV cache "
           "(norm gains stay as the preset has them; math is fp32). 2 bytes halve the weights "
           "and the cache."));
    mf->addRow(tr("Weights + KV cache"), m_storage);
    layout->addWidget(model_box);

    auto* run_box = new QGroupBox(tr("Run"), this);
    auto* rf = new QFormLayout(run_box);
    m_context = new QSpinBox(run_box);
    m_context->setObjectName(QStringLiteral("contextLength"));
    m_context->setRange(2, 1 << 22);
    m_context->setToolTip(
        tr("Context length (max_seq): the longest prompt + decode the model accepts. Presets start at "
           "their published context; raise it here as the CLI's --max-seq does."));
    rf->addRow(tr("Context length"), m_context);
    m_window = new QSpinBox(run_box);
    m_window->setObjectName(QStringLiteral("slidingWindow"));
    m_window->setRange(0, 1 << 22);
    m_window->setSpecialValueText(tr("none"));
    m_window->setToolTip(
        tr("Sliding-window attention: query i sees only keys i − w < j ≤ i, and each layer's KV cache is a "
           "rolling buffer of min(T, w) positions. Its saving multiplies GQA's: KV bytes = 2 · layers · batch · "
           "min(T, w) · n_kv · head_dim · bytes. A model whose config slides only some layers (layer_types) keeps "
           "that pattern; this sets the window of its sliding layers. 0 = full attention (the CLI's --window)."));
    rf->addRow(tr("Sliding window"), m_window);
    m_windowNote = noteLabel(run_box, QStringLiteral("windowNote"));
    rf->addRow(m_windowNote);
    m_seq = new QSpinBox(run_box);
    m_seq->setRange(1, 1 << 20);
    m_seq->setToolTip(tr("Prompt length in tokens (prefill). The attention maps are seq × seq."));
    rf->addRow(tr("Sequence length"), m_seq);
    m_seqLimit = noteLabel(run_box, QStringLiteral("seqLimit"));
    rf->addRow(m_seqLimit);
    m_batch = new QSpinBox(run_box);
    m_batch->setRange(1, kMaxBatch);
    m_batch->setToolTip(tr("Sequences processed together; the KV cache scales with it."));
    rf->addRow(tr("Batch"), m_batch);
    m_decode = new QSpinBox(run_box);
    m_decode->setRange(0, 4096);
    m_decode->setToolTip(tr("Tokens generated after the prompt, one at a time, each reading the whole KV cache."));
    rf->addRow(tr("Decode steps"), m_decode);
    m_runLayers = new QSpinBox(run_box);
    m_runLayers->setRange(0, kMaxLayers);
    m_runLayers->setSpecialValueText(tr("as many as fit"));
    m_runLayers->setToolTip(teach::runDepth());
    rf->addRow(tr("Layers to run"), m_runLayers);
    m_backend = new QComboBox(run_box);
    m_backend->setToolTip(tr("Where the run happens. CUDA is offered when a GPU and its module are present."));
    rf->addRow(tr("Backend"), m_backend);
    layout->addWidget(run_box);

    auto* teach_label = new QLabel(run_box);
    teach_label->setWordWrap(true);
    teach_label->setTextFormat(Qt::RichText);
    teach_label->setText(
        tr("<small>Hover any control for an explanation. K/V are shared within a group; "
           "queries never are.</small>"));
    teach_label->setToolTip(teach::group() + QStringLiteral("<br><br>") + teach::kvShrinks() +
                            QStringLiteral("<br><br>") + teach::flopsDoNot());
    layout->addWidget(teach_label);
    layout->addStretch(1);

    setBackends({{QStringLiteral("cpu"), true, tr("probing…"), QString()},
                 {QStringLiteral("cuda"), false, QString(), tr("probing backends…")}});

    // Spin boxes apply a value when editing finishes (Enter, focus out, arrows), never per keystroke: typing
    // "12" must not pass through 1 (which would rewrite the KV heads) on the way. Esc puts the old value back.
    for (QSpinBox* spin : {m_qHeads, m_layers, m_context, m_window, m_seq, m_batch, m_decode, m_runLayers}) {
        spin->setKeyboardTracking(false);
        spin->installEventFilter(this);
    }

    connect(m_preset, &QComboBox::activated, this, &ControlPanel::onPresetChosen);
    connect(m_qHeads, &QSpinBox::valueChanged, this, &ControlPanel::onQueryHeadsChanged);
    connect(m_kvHeads, &QComboBox::currentIndexChanged, this, [this] {
        updateKind();
        emitChanged();
    });
    connect(m_layers, &QSpinBox::valueChanged, this, [this] {
        updateKind();
        emitChanged();
    });
    connect(m_headDim, &QComboBox::currentIndexChanged, this, &ControlPanel::onHeadDimChanged);
    connect(m_seq, &QSpinBox::valueChanged, this, [this] {
        updateLimits();
        emitChanged();
    });
    connect(m_decode, &QSpinBox::valueChanged, this, [this] {
        updateLimits();
        emitChanged();
    });
    connect(m_batch, &QSpinBox::valueChanged, this, &ControlPanel::emitChanged);
    connect(m_context, &QSpinBox::valueChanged, this, [this] {
        m_base.max_seq = m_context->value();
        updateLimits();
        emitChanged();
    });
    connect(m_window, &QSpinBox::valueChanged, this, [this] {
        updateWindowNote();
        emitChanged();
    });
    connect(m_storage, &QComboBox::currentIndexChanged, this, [this] {
        updateKind();
        emitChanged();
    });
    connect(m_backend, &QComboBox::currentIndexChanged, this, &ControlPanel::emitChanged);
    connect(m_runLayers, &QSpinBox::valueChanged, this, [this] {
        m_runLayersDefault = false;  // the user chose the depth
        emitChanged();
    });

    loadPreset(QString::fromLatin1(kDefaultPreset));
}

QString ControlPanel::presetName() const {
    return m_preset->currentText();
}

ModelConfig ControlPanel::config() const {
    ModelConfig c = m_base;
    c.n_q_heads = m_qHeads->value();
    c.n_kv_heads = m_kvHeads->currentData().toLongLong();
    c.n_layers = m_layers->value();
    c.head_dim = m_headDim->currentData().toLongLong();
    if (m_dModelFollowsHeads) c.d_model = c.n_q_heads * c.head_dim;
    c.max_seq = m_context->value();
    // The window control sets the window of the model's sliding layers (every layer without a pattern).
    const int64_t w = m_window->value();
    c.sliding_window = w;
    if (hasLayerPattern())
        for (int64_t& lw : c.layer_windows) lw = lw > 0 ? w : 0;
    else
        c.layer_windows.clear();
    if (m_real) return c;  // a checkpoint keeps its own storage types
    // One control stores the whole model in one type, as the engine's overrides define it: weight_dtype sets
    // the matrices and the embedding / LM head, kv_dtype the cache.
    const auto storage = static_cast<DType>(m_storage->currentData().toInt());
    ConfigOverrides o;
    o.weight_dtype = storage;
    o.kv_dtype = storage;
    const std::string name = c.name;
    c = applyOverrides(std::move(c), o);
    c.name = name;  // like the head and depth controls, the storage choice does not rename the preset
    return c;
}

RunShape ControlPanel::shape() const {
    RunShape s;
    s.batch = m_batch->value();
    s.prompt_len = m_seq->value();
    s.decode_steps = m_decode->value();
    return s;
}

QString ControlPanel::backend() const {
    const QString b = m_backend->currentData().toString();
    return b.isEmpty() ? QStringLiteral("cpu") : b;
}

int64_t ControlPanel::runLayers() const {
    return m_runLayers->value();
}

QVector<int64_t> ControlPanel::offeredKvHeads() const {
    QVector<int64_t> out;
    for (int i = 0; i < m_kvHeads->count(); ++i) out.push_back(m_kvHeads->itemData(i).toLongLong());
    return out;
}

void ControlPanel::onPresetChosen(int index) {
    loadPreset(m_preset->itemText(index));
}

void ControlPanel::setRealControlsEnabled(bool real) {
    m_real = real;
    const QString why = tr("Fixed by the checkpoint: its weights have this shape.");
    for (QWidget* w : std::initializer_list<QWidget*>{m_qHeads, m_layers, m_headDim, m_storage, m_seq}) {
        w->setEnabled(!real);
        w->setToolTip(real ? (w == m_seq ? tr("The prompt's token count (edit the prompt).") : why) : QString());
    }
    if (!real) {
        m_qHeads->setToolTip(tr("n_q: query heads per layer. Each has its own W_Q slice and its own attention map."));
        m_layers->setToolTip(tr("Decoder layers of the model. The KV cache grows linearly with depth."));
        m_seq->setToolTip(tr("Prompt length in tokens (prefill). The attention maps are seq × seq."));
    }
    m_kvHeads->setToolTip(real ? tr("Any divisor of the checkpoint's KV heads: the model is converted live (mean-pool "
                                    "or first head of each group) and every view follows.")
                               : teach::kvHeadsControl());
    m_runLayers->setToolTip(real ? tr("Run the first N layers; the LM head then reads layer N's output.")
                                 : teach::runDepth());
    m_modelLabel->setVisible(real);
}

void ControlPanel::setRealModel(const ModelConfig& cfg, const QString& label) {
    RunShape s;
    s.batch = 1;
    s.decode_steps = 0;
    s.prompt_len = std::clamp<int64_t>(m_seq->value(), 1, cfg.max_seq);
    QString error;
    // The storage control does not apply (the checkpoint's types stand); setState checks the rest.
    m_real = true;
    {
        const QSignalBlocker b(this);
        ModelConfig probe = cfg;
        probe.embed_dtype = probe.kv_dtype = probe.weight_dtype = DType::BF16;
        m_applyingRealModel = true;
        setState(QString(), probe, s, backend(), 0, &error);
        m_applyingRealModel = false;
    }
    m_base = cfg;
    m_runLayersDefault = true;
    {
        // KV heads: divisors of the checkpoint's own count (a conversion merges heads; it never splits them).
        const QSignalBlocker b(m_kvHeads);
        m_kvHeads->clear();
        ModelConfig probe = cfg;
        for (int64_t v = 1; v <= cfg.n_kv_heads; ++v) {
            if (cfg.n_kv_heads % v) continue;
            probe.n_kv_heads = v;
            m_kvHeads->addItem(QStringLiteral("%1   (g = %2%3)")
                                   .arg(v)
                                   .arg(probe.groupSize())
                                   .arg(v == cfg.n_kv_heads ? tr(", as trained") : tr(", converted")),
                               QVariant::fromValue<qlonglong>(v));
        }
        m_kvHeads->setCurrentIndex(m_kvHeads->count() - 1);
    }
    m_modelLabel->setText(label);
    setRealControlsEnabled(true);
    const QSignalBlocker b(m_preset);
    m_preset->setCurrentIndex(-1);
    updateKind();
    emit changed();
}

void ControlPanel::setPromptTokens(int64_t count) {
    const QSignalBlocker b(m_seq);
    m_seq->setMaximum(static_cast<int>(std::max<int64_t>(count, 1)));
    m_seq->setValue(static_cast<int>(std::max<int64_t>(count, 1)));
    updateLimits();
}

bool ControlPanel::loadPreset(const QString& name) {
    auto preset = findPreset(name.toStdString());
    if (!preset) return false;
    if (m_real) setRealControlsEnabled(false);  // back to synthetic models
    const ModelConfig& cfg = preset.value();
    RunShape s;
    s.batch = 1;
    s.decode_steps = std::min<int64_t>(16, std::max<int64_t>(cfg.max_seq - 1, 0));
    s.prompt_len = std::clamp<int64_t>(64, 1, cfg.max_seq - s.decode_steps);
    QString error;
    return setState(name, cfg, s, backend(), defaultRunLayers(cfg), &error);
}

bool ControlPanel::setState(const QString& preset, const ModelConfig& cfg, const RunShape& shape,
                            const QString& backend_name, int64_t run_layers, QString* error) {
    if (Status s = cfg.validate(); !s) {
        if (error) *error = QString::fromStdString(s.message());
        return false;
    }
    if (Status s = shape.validate(cfg); !s) {
        if (error) *error = QString::fromStdString(s.message());
        return false;
    }
    if (cfg.n_q_heads > kMaxHeads || cfg.n_layers > kMaxLayers || shape.batch > kMaxBatch) {
        if (error) *error = tr("configuration exceeds the limits of the controls");
        return false;
    }
    // The storage control sets weights, embedding and KV cache together, to one of kStorageTypes.
    if (cfg.embed_dtype != cfg.weight_dtype || cfg.kv_dtype != cfg.weight_dtype ||
        std::find(std::begin(kStorageTypes), std::end(kStorageTypes), cfg.weight_dtype) == std::end(kStorageTypes)) {
        if (error)
            *error = tr("storage types (weights %1, embedding %2, KV cache %3) cannot be set with the controls: they "
                        "store the whole model in one of bf16, fp16 or fp32")
                         .arg(QLatin1String(dtypeName(cfg.weight_dtype)), QLatin1String(dtypeName(cfg.embed_dtype)),
                              QLatin1String(dtypeName(cfg.kv_dtype)));
        return false;
    }
    // A state from outside (a session) describes a synthetic model: it leaves checkpoint mode, once it is valid.
    if (m_real && !m_applyingRealModel) setRealControlsEnabled(false);
    m_updating = true;
    {
        const QSignalBlocker b0(m_preset), b1(m_qHeads), b2(m_kvHeads), b3(m_layers), b4(m_headDim), b5(m_seq),
            b6(m_batch), b7(m_decode), b8(m_storage), b9(m_backend), b10(m_runLayers), b11(m_context), b12(m_window);
        m_base = cfg;
        // Presets keep d_model = n_q * head_dim (LLaMA-style) if they start that way.
        auto base = findPreset(preset.toStdString());
        const ModelConfig& ref = base ? base.value() : cfg;
        m_dModelFollowsHeads =
            ref.d_model == ref.n_q_heads * ref.head_dim && cfg.d_model == cfg.n_q_heads * cfg.head_dim;
        const int pi = m_preset->findText(preset);
        if (pi >= 0) m_preset->setCurrentIndex(pi);
        m_preset->setToolTip(QString::fromStdString(ref.source));
        m_qHeads->setValue(static_cast<int>(cfg.n_q_heads));
        repopulateKvHeads(cfg.n_kv_heads);
        m_layers->setValue(static_cast<int>(cfg.n_layers));
        repopulateHeadDims(cfg.head_dim);
        m_storage->setCurrentIndex(m_storage->findData(static_cast<int>(cfg.weight_dtype)));
        m_context->setMaximum(static_cast<int>(std::max<int64_t>(cfg.max_seq, 1 << 22)));
        m_context->setValue(static_cast<int>(cfg.max_seq));
        int64_t window = 0;  // the model's window (the largest of its layers'), 0 when no layer slides
        for (const auto& [w, count] : cfg.windowCounts(cfg.n_layers)) window = std::max(window, w);
        m_window->setValue(static_cast<int>(std::clamp<int64_t>(window, 0, m_window->maximum())));
        m_decode->setMaximum(static_cast<int>(std::min<int64_t>(4096, std::max<int64_t>(cfg.max_seq - 1, 0))));
        m_decode->setValue(static_cast<int>(shape.decode_steps));
        m_seq->setMaximum(static_cast<int>(std::min<int64_t>(1 << 20, cfg.max_seq - shape.decode_steps)));
        m_seq->setValue(static_cast<int>(shape.prompt_len));
        m_batch->setValue(static_cast<int>(shape.batch));
        const int bi = m_backend->findData(backend_name);
        if (bi >= 0 && m_backend->model()->flags(m_backend->model()->index(bi, 0)) & Qt::ItemIsEnabled)
            m_backend->setCurrentIndex(bi);
        m_runLayers->setMaximum(static_cast<int>(cfg.n_layers));
        m_runLayers->setValue(static_cast<int>(run_layers));
        m_runLayersDefault = run_layers == defaultRunLayers(cfg);
        updateLimits();
        updateKind();
        updateWindowNote();
    }
    m_updating = false;
    emit changed();
    return true;
}

void ControlPanel::setBackends(const QVector<BackendChoice>& backends) {
    const QString keep = backend();
    const QSignalBlocker blocker(m_backend);
    auto* model = new QStandardItemModel(m_backend);
    for (const BackendChoice& b : backends) {
        auto* item = new QStandardItem(b.available ? QStringLiteral("%1 — %2").arg(b.name, b.device)
                                                   : tr("%1 — unavailable").arg(b.name));
        item->setData(b.name, Qt::UserRole);
        item->setToolTip(b.available ? b.device : b.reason);
        if (!b.available) item->setFlags(item->flags() & ~(Qt::ItemIsEnabled | Qt::ItemIsSelectable));
        model->appendRow(item);
    }
    m_backend->setModel(model);  // deletes the previous model, which the combo box owns
    int index = 0;
    for (int i = 0; i < model->rowCount(); ++i)
        if (model->item(i)->data(Qt::UserRole).toString() == keep && model->item(i)->isEnabled()) index = i;
    m_backend->setCurrentIndex(index);
    if (backend() != keep) emitChanged();
}

bool ControlPanel::setKvHeads(int64_t n_kv) {
    const int i = m_kvHeads->findData(QVariant::fromValue<qlonglong>(n_kv));
    if (i < 0) return false;
    m_kvHeads->setCurrentIndex(i);
    return true;
}

bool ControlPanel::setQueryHeads(int64_t n_q) {
    if (n_q < m_qHeads->minimum() || n_q > m_qHeads->maximum()) return false;
    m_qHeads->setValue(static_cast<int>(n_q));
    return true;
}

void ControlPanel::setPromptLength(int64_t tokens) {
    m_seq->setValue(static_cast<int>(tokens));
}
void ControlPanel::setDecodeSteps(int64_t steps) {
    m_decode->setValue(static_cast<int>(steps));
}

void ControlPanel::onQueryHeadsChanged() {
    {
        const QSignalBlocker blocker(m_kvHeads);
        repopulateKvHeads(m_kvHeads->currentData().toLongLong());
    }
    updateKind();
    emitChanged();
}

void ControlPanel::onHeadDimChanged() {
    updateKind();
    emitChanged();
}

void ControlPanel::repopulateKvHeads(int64_t keep) {
    ModelConfig probe;
    probe.n_q_heads = m_qHeads->value();
    const std::vector<int64_t> valid = probe.validKvHeadCounts();
    // Keep the old count if it still divides n_q; otherwise the nearest divisor.
    int64_t chosen = valid.empty() ? 1 : valid.front();
    for (int64_t v : valid)
        if (std::llabs(v - keep) < std::llabs(chosen - keep)) chosen = v;
    m_kvHeads->clear();
    for (int64_t v : valid) {
        probe.n_kv_heads = v;
        m_kvHeads->addItem(QStringLiteral("%1   (g = %2, %3)")
                               .arg(v)
                               .arg(probe.groupSize())
                               .arg(QString::fromStdString(probe.attentionKind()).section(QLatin1Char(' '), 0, 0)),
                           QVariant::fromValue<qlonglong>(v));
        if (v == chosen) m_kvHeads->setCurrentIndex(m_kvHeads->count() - 1);
    }
}

void ControlPanel::repopulateHeadDims(int64_t keep) {
    const QSignalBlocker blocker(m_headDim);
    std::vector<int64_t> dims(std::begin(kHeadDims), std::end(kHeadDims));
    if (keep > 0 && std::find(dims.begin(), dims.end(), keep) == dims.end()) dims.push_back(keep);
    std::sort(dims.begin(), dims.end());
    m_headDim->clear();
    for (int64_t d : dims) {
        m_headDim->addItem(QString::number(d), QVariant::fromValue<qlonglong>(d));
        if (d == keep) m_headDim->setCurrentIndex(m_headDim->count() - 1);
    }
}

void ControlPanel::updateLimits() {
    const QSignalBlocker b1(m_seq), b2(m_decode);
    const int64_t max_seq = m_base.max_seq;
    m_seq->setMaximum(static_cast<int>(std::clamp<int64_t>(max_seq - m_decode->value(), 1, 1 << 20)));
    m_decode->setMaximum(static_cast<int>(std::clamp<int64_t>(max_seq - m_seq->value(), 0, 4096)));
    m_runLayers->setMaximum(m_layers->value());
    // Say why the prompt cannot be longer, and where to change it.
    const int64_t seq_cap = max_seq - m_decode->value();
    m_seqLimit->setText(tr("Sequence length ≤ context %1 − decode steps %2 = %3; raise Context length for more.")
                            .arg(max_seq)
                            .arg(m_decode->value())
                            .arg(std::max<int64_t>(seq_cap, 1)));
    // Always shown (small): a typed value past the maximum is refused keystroke by keystroke, so the reason must
    // already be on screen.
    m_seqLimit->setVisible(true);
}

bool ControlPanel::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::KeyPress && static_cast<QKeyEvent*>(event)->key() == Qt::Key_Escape) {
        if (auto* spin = qobject_cast<QSpinBox*>(watched)) {
            // Undo the edit in progress: the text goes back to the value in force; nothing is applied.
            // Setting the same value leaves the typed text; a round trip through a neighbour rewrites it.
            const QSignalBlocker blocker(spin);
            const int v = spin->value();
            spin->setValue(v < spin->maximum() ? v + 1 : v - 1);
            spin->setValue(v);
            spin->selectAll();
            return true;
        }
    }
    if (event->type() == QEvent::KeyPress && static_cast<QKeyEvent*>(event)->key() == Qt::Key_Return) {
        // A value typed past the maximum is refused by the validator; say why instead of keeping silent.
        if (auto* spin = qobject_cast<QSpinBox*>(watched); spin == m_seq) {
            bool ok = false;
            auto* edit = spin->findChild<QLineEdit*>();
            const int typed = edit ? edit->text().toInt(&ok) : 0;
            if (ok && typed > spin->maximum()) m_seqLimit->setVisible(true);
        }
    }
    return QWidget::eventFilter(watched, event);
}

bool ControlPanel::hasLayerPattern() const {
    return std::any_of(m_base.layer_windows.begin(), m_base.layer_windows.end(), [](int64_t w) { return w > 0; });
}

void ControlPanel::updateWindowNote() {
    const ModelConfig c = config();
    QString text;
    if (hasLayerPattern())
        text = m_window->value() > 0
                   ? tr("Per layer, as the model's config says: %1.").arg(QString::fromStdString(c.windowText()))
                   : tr("Off: the model's sliding layers attend to the whole context.");
    else if (m_window->value() > 0)
        text = tr("Every layer: each query sees its last %1 positions.").arg(m_window->value());
    m_windowNote->setText(text);
    m_windowNote->setVisible(!text.isEmpty());
}

void ControlPanel::updateKind() {
    const ModelConfig c = config();
    m_kind->setText(kindText(c));
    QString d_model = QString::number(c.d_model);
    m_derived->setText(tr("d_model %1%2 · K/V params %3 per layer")
                           .arg(d_model, m_dModelFollowsHeads ? tr(" (= n_q × head_dim)") : QString())
                           .arg(countText(static_cast<double>(c.kvParamsPerLayer()))));
    m_runLayers->setMaximum(m_layers->value());
}

void ControlPanel::emitChanged() {
    if (!m_updating) emit changed();
}

}  // namespace gqa::ui
