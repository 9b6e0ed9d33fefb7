#include "tradeoff_view.h"

#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "color_map_convert.h"
#include "memory_view.h"
#include "plot_export.h"
#include "plot_style.h"
#include "teaching_text.h"

namespace gqa::ui {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Blue for negative, white at zero, red for positive: the sign of a difference reads at a glance.
QCPColorGradient divergingGradient() {
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(33, 102, 172));
    g.setColorStopAt(0.25, QColor(146, 197, 222));
    g.setColorStopAt(0.5, QColor(247, 247, 247));
    g.setColorStopAt(0.75, QColor(244, 165, 130));
    g.setColorStopAt(1.0, QColor(178, 24, 43));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

QCPColorGradient mapGradient() {
    QCPColorGradient g = attentionGradient();
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

void resetPlot(QCustomPlot* plot) {
    plot->clearItems();
    plot->clearPlottables();
    plot->plotLayout()->clear();
}

QString pointLabel(const TradeoffPoint& p) {
    return QStringLiteral("n_kv=%1 (g=%2)").arg(p.kv_heads).arg(p.group_size);
}

}  // namespace

QString tradeoffKey(const TradeoffParams& p) {
    const ModelConfig& c = p.config;
    return QStringLiteral("%1|%2|%3|%4|%5|%6|%7|%8|%9")
               .arg(QString::fromStdString(c.name))
               .arg(c.d_model)
               .arg(c.n_layers)
               .arg(c.n_q_heads)
               .arg(c.head_dim)
               .arg(c.ffn_dim)
               .arg(QStringLiteral("%1/%2/%3/%4")
                        .arg(QLatin1String(dtypeName(c.weight_dtype)), QLatin1String(dtypeName(c.embed_dtype)),
                             QLatin1String(dtypeName(c.norm_dtype)), QLatin1String(dtypeName(c.kv_dtype))))
               .arg(c.vocab_size)
               .arg(c.rope_theta) +
           QStringLiteral("|%1|%2|%3|%4|%5|%6")
               .arg(p.shape.prompt_len)
               .arg(p.shape.decode_steps)
               .arg(p.shape.batch)
               .arg(QString::fromStdString(p.backend))
               .arg(p.max_layers)
               .arg(QString::fromLatin1(convertMethodName(p.method))) +
           // A checkpoint's sweep also depends on the checkpoint and the text it scores.
           (p.model ? QStringLiteral("|%1|%2|%3")
                          .arg(QString::fromStdString(p.model->source_path))
                          .arg(qHashRange(p.quality_tokens.begin(), p.quality_tokens.end()))
                          .arg(qHash(QString::fromStdString(p.quality_text)))
                    : QString());
}

TradeoffView::TradeoffView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);

    auto* bar = new QHBoxLayout;
    m_sweep = new QPushButton(tr("Sweep groupings"), this);
    m_sweep->setToolTip(
        tr("Converts the current model to multi-head attention (n_kv = n_q), then to every KV-head "
           "count that divides n_q, and measures what each grouping saves and what it loses. Runs on "
           "the engine thread; the window stays live."));
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setEnabled(false);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(tr("no sweep yet"));
    m_progress->setMaximumWidth(220);
    m_method = new QComboBox(this);
    m_method->addItem(tr("mean-pool K/V heads"), static_cast<int>(ConvertMethod::MeanPool));
    m_method->addItem(tr("keep first K/V head"), static_cast<int>(ConvertMethod::First));
    m_method->setToolTip(teach::meanPool());
    m_xAxis = new QComboBox(this);
    m_xAxis->addItem(tr("x: KV-cache bytes"), static_cast<int>(XAxis::KvCacheBytes));
    m_xAxis->addItem(tr("x: decode-attention ms"), static_cast<int>(XAxis::DecodeAttentionMs));
    m_xAxis->setToolTip(
        tr("What a grouping saves: the whole model's KV cache at the sweep's batch and context, or "
           "the measured time of one layer's attention for one decode step."));
    bar->addWidget(m_sweep);
    bar->addWidget(m_cancel);
    bar->addWidget(m_progress, 1);
    bar->addSpacing(12);
    bar->addWidget(new QLabel(tr("Conversion:"), this));
    bar->addWidget(m_method);
    bar->addWidget(m_xAxis);
    m_yAxis = new QComboBox(this);
    m_yAxis->addItem(tr("y: output error"), static_cast<int>(YAxis::OutputRelError));
    m_yAxis->addItem(tr("y: prompt perplexity"), static_cast<int>(YAxis::Perplexity));
    m_yAxis->addItem(tr("y: next-token KL"), static_cast<int>(YAxis::NextTokenKl));
    m_yAxis->setToolTip(
        tr("What a grouping loses: the relative error of the final hidden state against the starting "
           "model; the perplexity of the prompt (or of the chosen text) under the grouping's model; or "
           "KL(start || grouping) of the next-token distributions, in nats, averaged over positions. "
           "A loaded checkpoint opens on perplexity."));
    bar->addWidget(m_yAxis);
    m_textButton = new QPushButton(tr("Quality text…"), this);
    m_textButton->setToolTip(
        tr("A loaded model: measure perplexity and KL on a text file instead of the prompt "
           "(the first 512 tokens)."));
    m_textButton->setEnabled(false);
    bar->addWidget(m_textButton);
    m_save = new QPushButton(tr("Save converted model…"), this);
    m_save->setToolTip(
        tr("Writes the loaded checkpoint at the highlighted KV-head count, converted with the sweep's "
           "method, as a Hugging Face directory (config.json, model.safetensors, tokenizer files)."));
    m_save->setEnabled(false);
    bar->addWidget(m_save);
    bar->addSpacing(12);
    auto* layer_label = new QLabel(tr("Map layer"), this);
    m_layer = new QSpinBox(this);
    m_layer->setRange(0, 0);
    m_layer->setToolTip(tr("The layer whose attention maps are compared (of the layers the sweep ran)."));
    auto* head_label = new QLabel(tr("query head"), this);
    m_head = new QSpinBox(this);
    m_head->setRange(0, 0);
    m_head->setToolTip(
        tr("Query head h. It keeps its own queries after conversion; only the keys and values it "
           "reads change, to the pooled KV head h / g of its group."));
    bar->addWidget(layer_label);
    bar->addWidget(m_layer);
    bar->addWidget(head_label);
    bar->addWidget(m_head);
    layout->addLayout(bar);

    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("tradeoffSummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::RichText);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_summary->setToolTip(teach::qualityLoss());
    layout->addWidget(m_summary);

    auto* split = new QSplitter(Qt::Horizontal, this);
    m_plot = new QCustomPlot(split);
    m_plot->setObjectName(QStringLiteral("tradeoff"));
    stylePlot(m_plot);
    m_plot->setToolTip(teach::qualityLoss() + QStringLiteral("<br><br>") + teach::meanPool() +
                       tr("<br><br>Click a point to use that KV-head count everywhere."));
    m_mapsPlot = new QCustomPlot(split);
    m_mapsPlot->setObjectName(QStringLiteral("tradeoff_maps"));
    stylePlot(m_mapsPlot);
    m_mapsPlot->setToolTip(
        tr("The same query head on the same prompt, in the multi-head model and in the converted "
           "one. Difference = converted − MHA: red where the head now attends more, blue where "
           "less. Every row of a map sums to 1, so every row of the difference sums to 0."));
    split->addWidget(m_plot);
    split->addWidget(m_mapsPlot);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    layout->addWidget(split, 1);

    installExportMenu(m_plot, QStringLiteral("tradeoff"));
    installExportMenu(m_mapsPlot, QStringLiteral("tradeoff_maps"));

    connect(m_sweep, &QPushButton::clicked, this, &TradeoffView::sweepRequested);
    connect(m_cancel, &QPushButton::clicked, this, &TradeoffView::cancelRequested);
    connect(m_method, &QComboBox::currentIndexChanged, this, [this] {
        if (m_outcome || m_sweeping) emit sweepRequested();
    });
    connect(m_xAxis, &QComboBox::currentIndexChanged, this, [this] { rebuildScatter(); });
    connect(m_yAxis, &QComboBox::activated, this, [this] { m_yChosen = true; });
    connect(m_yAxis, &QComboBox::currentIndexChanged, this, [this] { rebuildScatter(); });
    connect(m_save, &QPushButton::clicked, this, [this] {
        if (!m_outcome || !m_outcome->model) return;
        const QFileInfo src(QString::fromStdString(m_outcome->model->source_path));
        const QString suggested =
            src.absoluteDir().filePath(QStringLiteral("%1-kv%2-%3")
                                           .arg(src.completeBaseName())
                                           .arg(m_highlightKv)
                                           .arg(QLatin1String(convertMethodName(m_outcome->result.method))));
        const QString dir = QFileDialog::getSaveFileName(this, tr("Save converted model (a new directory)"), suggested,
                                                         QString(), nullptr, QFileDialog::ShowDirsOnly);
        if (!dir.isEmpty()) saveConvertedTo(dir);
    });
    connect(m_textButton, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Text to measure perplexity on"), QString(),
                                                          tr("Text (*.txt *.md);;All files (*)"));
        if (path.isEmpty()) return;
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) {
            m_saveStatus = tr("cannot read %1").arg(path.toHtmlEscaped());
            updateSummary();
            return;
        }
        setQualityText(QString::fromUtf8(f.read(int64_t{1} << 20)), QFileInfo(path).fileName());
    });
    connect(m_layer, &QSpinBox::valueChanged, this, [this] { rebuildMaps(); });
    connect(m_head, &QSpinBox::valueChanged, this, [this] { rebuildMaps(); });
    // Hit-test the points ourselves: their labels and the highlight ring sit on top of them and would
    // take QCustomPlot's plottableClick.
    connect(m_plot, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* event) {
        if (event->button() != Qt::LeftButton || !m_points) return;
        const QPointF at = event->position();
        int best = -1;
        double best_d2 = 14.0 * 14.0;  // pixels
        int i = 0;
        for (auto it = m_points->data()->constBegin(); it != m_points->data()->constEnd(); ++it, ++i) {
            const QPointF p = m_points->coordsToPixels(it->key, it->value);
            const double dx = p.x() - at.x(), dy = p.y() - at.y();
            if (dx * dx + dy * dy <= best_d2) {
                best_d2 = dx * dx + dy * dy;
                best = i;
            }
        }
        if (best >= 0) clickPoint(best);
    });

    rebuildScatter();
    rebuildMaps();
    updateSummary();
}

ConvertMethod TradeoffView::method() const {
    return static_cast<ConvertMethod>(m_method->currentData().toInt());
}

TradeoffView::XAxis TradeoffView::xAxis() const {
    return static_cast<XAxis>(m_xAxis->currentData().toInt());
}

void TradeoffView::setXAxis(XAxis axis) {
    m_xAxis->setCurrentIndex(m_xAxis->findData(static_cast<int>(axis)));
}

TradeoffView::YAxis TradeoffView::yAxis() const {
    return static_cast<YAxis>(m_yAxis->currentData().toInt());
}

void TradeoffView::setYAxis(YAxis axis) {
    m_yChosen = true;
    m_yAxis->setCurrentIndex(m_yAxis->findData(static_cast<int>(axis)));
}

double TradeoffView::yOf(const TradeoffPoint& p) const {
    double v = p.output_rel_error;
    if (yAxis() == YAxis::Perplexity)
        v = p.prompt_perplexity;
    else if (yAxis() == YAxis::NextTokenKl)
        v = p.next_token_kl;
    return std::isfinite(v) ? v : 0.0;
}

void TradeoffView::setQualityText(const QString& text, const QString& source) {
    m_qualityText = text;
    m_qualitySource = text.isEmpty() ? QString() : source;
    emit sweepRequested();  // the quality input changed: the shown sweep no longer answers it
}

void TradeoffView::saveConvertedTo(const QString& dir) {
    if (!m_outcome || !m_outcome->model || pointIndexOf(m_highlightKv) < 0) {
        m_saveStatus = tr("nothing to save: sweep a loaded model and pick a grouping first");
        updateSummary();
        return;
    }
    m_saveStatus = tr("saving n_kv = %1 to %2…").arg(m_highlightKv).arg(dir.toHtmlEscaped());
    m_save->setEnabled(false);
    updateSummary();
    emit saveConvertedRequested(dir, m_highlightKv, m_outcome->result.method);
}

void TradeoffView::onSaved(const QString& dir, int64_t n_kv_heads) {
    m_saveStatus = tr("<span style='color:#2e7d32'>Saved the model with %1 KV heads to %2 (open it with File → Open "
                      "model…).</span>")
                       .arg(n_kv_heads)
                       .arg(dir.toHtmlEscaped());
    updateSaveButton();
    updateSummary();
}

void TradeoffView::onSaveFailed(const QString& dir, const QString& message) {
    m_saveStatus = tr("<span style='color:#b00020'>Could not save to %1: %2</span>")
                       .arg(dir.toHtmlEscaped(), message.toHtmlEscaped());
    updateSaveButton();
    updateSummary();
}

void TradeoffView::updateSaveButton() {
    m_save->setEnabled(m_outcome && m_outcome->model && pointIndexOf(m_highlightKv) >= 0);
}

QString TradeoffView::summaryText() const {
    return m_summary->text();
}

void TradeoffView::setCurrentConfig(const ModelConfig& config) {
    const bool moved = config.n_kv_heads != m_current.n_kv_heads || config.n_q_heads != m_current.n_q_heads;
    m_current = config;
    if (!moved && m_outcome) return;
    rebuildScatter();
    rebuildMaps();
    updateSummary();
}

void TradeoffView::onStarted(const QString& key) {
    m_key = key;
    m_sweeping = true;
    m_status = tr("sweeping…");
    m_sweep->setEnabled(false);
    m_cancel->setEnabled(true);
    m_progress->setRange(0, 0);
    m_progress->setFormat(tr("starting…"));
    // The plots say so too (not 'press "Sweep groupings"' while it runs).
    rebuildScatter();
    rebuildMaps();
    updateSummary();
}

void TradeoffView::setProgress(int64_t done, int64_t total) {
    if (!m_sweeping || total <= 0) return;
    // The engine's sweep counts one step per grouping, then the map pass one more each.
    m_progress->setRange(0, static_cast<int>(total));
    m_progress->setValue(static_cast<int>(std::min(done, total)));
    m_progress->setFormat(tr("measuring groupings: %v / %m"));
}

void TradeoffView::setOutcome(const TradeoffOutcomePtr& outcome) {
    m_outcome = outcome;
    m_sweeping = false;
    m_status.clear();
    m_sweep->setEnabled(true);
    m_cancel->setEnabled(false);
    const int n = outcome ? static_cast<int>(outcome->result.points.size()) : 0;
    m_progress->setRange(0, std::max(n, 1));
    m_progress->setValue(n);
    m_progress->setFormat(tr("%1 groupings").arg(n));
    if (outcome && outcome->model && !m_yChosen) {
        const QSignalBlocker b(m_yAxis);  // a checkpoint's quality reads best as perplexity
        m_yAxis->setCurrentIndex(m_yAxis->findData(static_cast<int>(YAxis::Perplexity)));
    }
    if (outcome) {
        const QSignalBlocker b1(m_layer), b2(m_head);
        m_layer->setRange(0, static_cast<int>(std::max<int64_t>(outcome->result.layers_run - 1, 0)));
        m_head->setRange(0, static_cast<int>(std::max<int64_t>(outcome->result.config.n_q_heads - 1, 0)));
        // Open on the head the current grouping changes most (largest attention-map divergence), where the
        // difference map has something to show; the spin boxes pick any other.
        const auto& pts = outcome->result.points;
        const auto it = std::find_if(pts.begin(), pts.end(),
                                     [&](const TradeoffPoint& p) { return p.kv_heads == m_current.n_kv_heads; });
        if (it != pts.end()) {
            double best = -1.0;
            const auto& js = it->quality.head_js_bits;  // [layer][query head]
            for (size_t l = 0; l < js.size(); ++l)
                for (size_t h = 0; h < js[l].size(); ++h)
                    if (std::isfinite(js[l][h]) && js[l][h] > best) {
                        best = js[l][h];
                        m_layer->setValue(static_cast<int>(l));
                        m_head->setValue(static_cast<int>(h));
                    }
        }
    }
    rebuildScatter();
    rebuildMaps();
    updateSaveButton();
    m_textButton->setEnabled(outcome && outcome->model);
    updateSummary();
}

void TradeoffView::onFailed(const QString& message, bool cancelled) {
    m_sweeping = false;
    // m_key stays: a cancelled sweep is not restarted behind the user's back; "Sweep groupings" or a change
    // of the configuration asks again.
    m_status = cancelled ? tr("sweep cancelled") : tr("sweep failed: %1").arg(message.toHtmlEscaped());
    m_sweep->setEnabled(true);
    m_cancel->setEnabled(false);
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(cancelled ? tr("cancelled") : tr("failed"));
    updateSummary();
}

int TradeoffView::pointIndexOf(int64_t n_kv) const {
    if (!m_outcome) return -1;
    const auto& pts = m_outcome->result.points;
    for (size_t i = 0; i < pts.size(); ++i)
        if (pts[i].kv_heads == n_kv) return static_cast<int>(i);
    return -1;
}

void TradeoffView::clickPoint(int index) {
    if (!m_outcome || index < 0 || index >= static_cast<int>(m_outcome->result.points.size())) return;
    emit kvHeadsChosen(m_outcome->result.points[static_cast<size_t>(index)].kv_heads);
}

QVector<double> TradeoffView::plottedX() const {
    QVector<double> out;
    if (m_points)
        for (auto it = m_points->data()->constBegin(); it != m_points->data()->constEnd(); ++it) out.push_back(it->key);
    return out;
}

QVector<double> TradeoffView::plottedY() const {
    QVector<double> out;
    if (m_points)
        for (auto it = m_points->data()->constBegin(); it != m_points->data()->constEnd(); ++it)
            out.push_back(it->value);
    return out;
}

QVector<double> TradeoffView::plottedOtherY() const {
    QVector<double> out;
    if (m_otherPoints)
        for (auto it = m_otherPoints->data()->constBegin(); it != m_otherPoints->data()->constEnd(); ++it)
            out.push_back(it->value);
    return out;
}

QVector<int64_t> TradeoffView::plottedKvHeads() const {
    QVector<int64_t> out;
    if (m_outcome)
        for (const TradeoffPoint& p : m_outcome->result.points) out.push_back(p.kv_heads);
    return out;
}

void TradeoffView::rebuildScatter() {
    resetPlot(m_plot);
    m_points = nullptr;
    m_otherPoints = nullptr;
    m_spreadBars = nullptr;
    const TradeoffResult* r = m_outcome ? &m_outcome->result : nullptr;
    const bool bytes = xAxis() == XAxis::KvCacheBytes;
    QString title = tr("MHA → GQA trade-off: what each KV grouping saves against what it loses");
    const bool real = m_outcome && m_outcome->model;
    if (r && real)
        title = tr("KV-head trade-off — %1 (checkpoint: %2 query, %3 KV heads), quality on %4")
                    .arg(QString::fromStdString(r->config.name))
                    .arg(r->config.n_q_heads)
                    .arg(r->config.n_kv_heads)
                    .arg(QString::fromStdString(m_outcome->quality_source));
    else if (r)
        title = tr("MHA → GQA trade-off — %1, %2 query heads, %3")
                    .arg(QString::fromStdString(r->config.name))
                    .arg(r->config.n_q_heads)
                    .arg(r->method == ConvertMethod::MeanPool ? tr("mean-pooled K/V") : tr("first K/V head kept"));
    auto* text = new QCPTextElement(m_plot, title, titleFont());
    m_plot->plotLayout()->addElement(0, 0, text);
    auto* rect = new QCPAxisRect(m_plot);
    m_plot->plotLayout()->addElement(1, 0, rect);
    m_plot->plotLayout()->setRowStretchFactor(0, 0.001);
    styleAxisRect(rect);
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    QCPAxis* y = rect->axis(QCPAxis::atLeft);
    const QString start = real ? tr("the checkpoint") : tr("MHA");
    switch (yAxis()) {
        case YAxis::Perplexity: y->setLabel(tr("prompt perplexity — less is better")); break;
        case YAxis::NextTokenKl: y->setLabel(tr("next-token KL vs %1 (nats)").arg(start)); break;
        default: y->setLabel(tr("quality loss: output relative error vs %1").arg(start)); break;
    }

    double x_max = 0.0;
    if (r)
        for (const TradeoffPoint& p : r->points)
            x_max = std::max(x_max, bytes ? static_cast<double>(p.kv_cache_bytes) : p.decode_attention_ms);
    const ByteUnit unit = byteUnitFor(std::max(x_max, 1.0));
    x->setLabel(bytes ? tr("KV cache, whole model (%1) — less is better").arg(unit.name)
                      : tr("decode attention, one layer, one step (ms) — less is better"));
    auto xOf = [&](const TradeoffPoint& p) {
        return bytes ? static_cast<double>(p.kv_cache_bytes) / unit.bytes : p.decode_attention_ms;
    };

    // Points in KV-head order, joined by a thin line: the path from MQA (left) to MHA (right).
    auto* points = new QCPCurve(x, y);
    m_points = points;
    points->setName(r ? (r->method == ConvertMethod::MeanPool ? tr("mean-pooled K/V") : tr("first K/V head kept"))
                      : tr("groupings"));
    points->setPen(QPen(QColor(150, 150, 150), 1.0, Qt::DashLine));
    points->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, currentColor().darker(120), currentColor(), 11));
    double y_max = 0.0;
    double x_lo = std::numeric_limits<double>::max(), x_hi = std::numeric_limits<double>::lowest();
    if (r) {
        for (size_t i = 0; i < r->points.size(); ++i) {
            const TradeoffPoint& p = r->points[i];
            const double px = xOf(p);
            const double py = yOf(p);
            points->addData(static_cast<double>(i), px, py);
            y_max = std::max(y_max, py);
            x_lo = std::min(x_lo, px);
            x_hi = std::max(x_hi, px);
        }
        // Latency on x: each point's min–max over the attention repeats, as horizontal error bars.
        if (!bytes && !r->points.empty()) {
            QVector<double> minus, plus;
            for (const TradeoffPoint& p : r->points) {
                const TimingStats& t = p.decode_attention;
                minus.push_back(t.repeats > 0 ? std::max(0.0, p.decode_attention_ms - t.min_ms) : 0.0);
                plus.push_back(t.repeats > 0 ? std::max(0.0, t.max_ms - p.decode_attention_ms) : 0.0);
                if (t.repeats > 0) {
                    x_lo = std::min(x_lo, t.min_ms);
                    x_hi = std::max(x_hi, t.max_ms);
                }
            }
            m_spreadBars = addSpreadBars(points, minus, plus, /*along_key=*/true);
        }
    }
    // The other method's points (real models): same x, its own quality.
    if (r && m_outcome->other_method && m_outcome->other_method->points.size() == r->points.size()) {
        auto* other = new QCPCurve(x, y);
        m_otherPoints = other;
        other->setName(m_outcome->other_method->method == ConvertMethod::MeanPool ? tr("mean-pooled K/V")
                                                                                  : tr("first K/V head kept"));
        other->setPen(QPen(QColor(120, 160, 200), 1.0, Qt::DotLine));
        other->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(QColor(40, 90, 160), 1.5), QBrush(Qt::white), 10));
        other->setSelectable(QCP::stNone);
        for (size_t i = 0; i < m_outcome->other_method->points.size(); ++i) {
            const TradeoffPoint& p = m_outcome->other_method->points[i];
            const double py = yOf(p);
            other->addData(static_cast<double>(i), xOf(r->points[i]), py);
            y_max = std::max(y_max, py);
        }
        auto* legend = new QCPLegend;
        rect->insetLayout()->addElement(legend, Qt::AlignTop | Qt::AlignRight);  // the corner no point reaches
        legend->setLayer(QStringLiteral("legend"));
        legend->setFont(smallFont());
        legend->addItem(new QCPPlottableLegendItem(legend, points));
        legend->addItem(new QCPPlottableLegendItem(legend, other));
    }
    if (x_lo > x_hi) {
        x_lo = 0.0;
        x_hi = 1.0;
    }
    const double x_pad = std::max((x_hi - x_lo) * 0.12, std::abs(x_hi) * 0.05 + 1e-9);
    // Labels run right of their points: room for the rightmost one.
    x->setRange(std::max(0.0, x_lo - x_pad), x_hi + (real ? 3.6 : 2.2) * x_pad);
    if (yAxis() == YAxis::Perplexity && r && !r->points.empty()) {
        // Perplexities sit far from 0: zoom on their spread.
        double lo = std::numeric_limits<double>::max();
        for (const TradeoffPoint& p : r->points) lo = std::min(lo, yOf(p));
        if (m_outcome->other_method)
            for (const TradeoffPoint& p : m_outcome->other_method->points) lo = std::min(lo, yOf(p));
        const double span = std::max(y_max - lo, 1e-3 * std::max(y_max, 1.0));
        y->setRange(lo - 0.15 * span, y_max + 0.3 * span);
    } else {
        y->setRange(y_max > 0 ? -0.05 * y_max : -0.05, y_max > 0 ? y_max * 1.25 : 1.0);
    }

    if (r) {
        const int hi =
            pointIndexOf(m_highlightKv = m_current.n_q_heads == r->config.n_q_heads ? m_current.n_kv_heads : 0);
        if (hi >= 0) {
            const TradeoffPoint& p = r->points[static_cast<size_t>(hi)];
            auto* current = new QCPGraph(x, y);
            current->setName(tr("current setting"));
            current->setLineStyle(QCPGraph::lsNone);
            current->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(255, 140, 0), 3.0),
                                                     QBrush(QColor(255, 200, 0, 120)), 22));
            current->addData(xOf(p), yOf(p));
            current->setSelectable(QCP::stNone);
        }
        // Labels start at their point and run right, alternately above and below, so neighbours crowded at
        // the small-cache end do not overwrite each other; they may run into the margin rather than be cut.
        for (size_t i = 0; i < r->points.size(); ++i) {
            const TradeoffPoint& p = r->points[i];
            const bool above = i % 2 == 0;
            auto* label = new QCPItemText(m_plot);
            label->setClipToAxisRect(false);
            label->position->setAxes(x, y);
            label->position->setCoords(xOf(p), yOf(p));
            label->setPositionAlignment(Qt::AlignLeft | (above ? Qt::AlignBottom : Qt::AlignTop));
            label->setPadding(above ? QMargins(7, 0, 0, 7) : QMargins(7, 7, 0, 0));
            QString t = pointLabel(p);
            if (p.kv_heads == r->config.n_kv_heads && real)
                t += tr(" checkpoint");
            else if (p.kv_heads == r->config.n_q_heads)
                t += tr(" MHA");
            else if (p.kv_heads == 1)
                t += tr(" MQA");
            QFont f = smallFont();
            if (static_cast<int>(i) == hi) {
                t += tr(" · current");
                f.setBold(true);
                label->setColor(QColor(180, 100, 0));
            } else {
                label->setColor(QColor(60, 60, 60));
            }
            label->setText(t);
            label->setFont(f);
        }
        if (hi < 0) m_highlightKv = 0;
    } else {
        auto* note = new QCPItemText(m_plot);
        note->setClipAxisRect(rect);
        note->position->setType(QCPItemPosition::ptAxisRectRatio);
        note->position->setAxisRect(rect);
        note->position->setCoords(0.5, 0.5);
        m_placeholder = m_sweeping ? tr("sweeping…") : tr("press \"Sweep groupings\"");
        note->setText(m_placeholder);
        note->setColor(QColor(120, 120, 120));
    }
    queueReplot(m_plot);
}

void TradeoffView::rebuildMaps() {
    resetPlot(m_mapsPlot);
    const TradeoffOutcome* o = m_outcome.get();
    const int64_t layer = m_layer->value();
    const int64_t head = m_head->value();
    const int base_i = o ? pointIndexOf(o->result.config.n_kv_heads) : -1;
    const int conv_i = o && m_current.n_q_heads == o->result.config.n_q_heads ? pointIndexOf(m_current.n_kv_heads) : -1;
    const LayerMaps* base = base_i >= 0 && base_i < static_cast<int>(o->maps.size())
                                ? findLayerMaps(o->maps[static_cast<size_t>(base_i)], layer)
                                : nullptr;
    const LayerMaps* conv = conv_i >= 0 && conv_i < static_cast<int>(o->maps.size())
                                ? findLayerMaps(o->maps[static_cast<size_t>(conv_i)], layer)
                                : nullptr;
    const int64_t base_hi = base ? headIndex(*base, head) : -1;
    const int64_t conv_hi = conv ? headIndex(*conv, head) : -1;
    const TradeoffPoint* cp = conv_i >= 0 ? &o->result.points[static_cast<size_t>(conv_i)] : nullptr;

    const QString titles[3] = {
        // Before any sweep the titles name the live model's MHA form (n_kv = n_q), never "n_kv = 0".
        o ? tr("%1 (n_kv = %2): layer %3, Q%4")
                .arg(o->model ? tr("checkpoint") : tr("MHA"))
                .arg(o->result.config.n_kv_heads)
                .arg(layer)
                .arg(head)
          : tr("MHA (n_kv = %1): %2").arg(m_current.n_q_heads).arg(m_sweeping ? tr("sweeping…") : tr("not swept yet")),
        cp ? tr("converted n_kv = %1 (g = %2): Q%3 reads KV%4")
                 .arg(cp->kv_heads)
                 .arg(cp->group_size)
                 .arg(head)
                 .arg(head / std::max<int64_t>(cp->group_size, 1))
           : tr("converted (no matching grouping)"),
        o && o->model ? tr("difference: converted − checkpoint") : tr("difference: converted − MHA"),
    };
    m_mapTitles = QStringList{titles[0], titles[1], titles[2]};
    QCPColorMap* maps[3] = {};
    QCPColorScale* scales[3] = {};
    auto* group = new QCPMarginGroup(m_mapsPlot);
    for (int k = 0; k < 3; ++k) {
        auto* title = new QCPTextElement(m_mapsPlot, titles[k], smallFont());
        QFont f = smallFont();
        f.setBold(true);
        title->setFont(f);
        m_mapsPlot->plotLayout()->addElement(2 * k, 0, title);
        m_mapsPlot->plotLayout()->setRowStretchFactor(2 * k, 0.001);
        auto* rect = new QCPAxisRect(m_mapsPlot);
        m_mapsPlot->plotLayout()->addElement(2 * k + 1, 0, rect);
        styleAxisRect(rect);
        rect->setMarginGroup(QCP::msLeft | QCP::msRight, group);
        QCPAxis* x = rect->axis(QCPAxis::atBottom);
        QCPAxis* y = rect->axis(QCPAxis::atLeft);
        x->grid()->setVisible(false);
        y->grid()->setVisible(false);
        y->setRangeReversed(true);  // query 0 at the top, like a matrix
        x->setTickLabelFont(smallFont());
        y->setTickLabelFont(smallFont());
        if (k == 2) x->setLabel(tr("key position j"));
        y->setLabel(tr("query i"));
        // Masked cells are transparent: grey behind the difference keeps them apart from "unchanged" white.
        if (k == 2) rect->setBackground(QColor(215, 215, 215));
        auto* scale = new QCPColorScale(m_mapsPlot);
        m_mapsPlot->plotLayout()->addElement(2 * k + 1, 1, scale);
        scale->setType(QCPAxis::atRight);
        scale->setBarWidth(10);
        scale->setMinimumSize(QSize(64, 40));  // else the tiny column stretch squeezes the bar to nothing
        scale->axis()->setTickLabelFont(smallFont());
        auto* map = new QCPColorMap(x, y);
        map->setInterpolate(false);
        map->setTightBoundary(false);
        map->setColorScale(scale);
        map->setGradient(k == 2 ? divergingGradient() : mapGradient());
        maps[k] = map;
        scales[k] = scale;
    }
    m_mapsPlot->plotLayout()->setColumnStretchFactor(1, 0.01);

    double w_max = 0.0, d_max = 0.0;
    int64_t tq = 1, tk = 1;
    if (base && base_hi >= 0) {
        fillPromptMap(*base, 0, base_hi, MapScale::Linear, *maps[0]->data());
        w_max = std::max(w_max, maxWeight(*base, 0, base_hi));
        tq = base->q_len;
        tk = base->kv_len;
    }
    if (conv && conv_hi >= 0) {
        fillPromptMap(*conv, 0, conv_hi, MapScale::Linear, *maps[1]->data());
        w_max = std::max(w_max, maxWeight(*conv, 0, conv_hi));
    }
    if (base && conv && base_hi >= 0 && conv_hi >= 0 && base->q_len == conv->q_len && base->kv_len == conv->kv_len) {
        QCPColorMapData* d = maps[2]->data();
        d->setSize(static_cast<int>(tk), static_cast<int>(tq));
        d->setRange(QCPRange(0, static_cast<double>(std::max<int64_t>(tk - 1, 1))),
                    QCPRange(0, static_cast<double>(std::max<int64_t>(tq - 1, 1))));
        for (int64_t i = 0; i < tq; ++i)
            for (int64_t j = 0; j < tk; ++j) {
                const double a = promptWeight(*conv, 0, conv_hi, i, j), b = promptWeight(*base, 0, base_hi, i, j);
                const double v = std::isfinite(a) && std::isfinite(b) ? a - b : kNaN;
                if (std::isfinite(v)) d_max = std::max(d_max, std::abs(v));
                d->setCell(static_cast<int>(j), static_cast<int>(i), v);
            }
    }
    for (QCPColorMap* map : maps) {
        map->keyAxis()->setRange(-0.5, static_cast<double>(tk) - 0.5);
        map->valueAxis()->setRange(-0.5, static_cast<double>(tq) - 0.5);
    }
    const double w_hi = w_max > 0 ? w_max : 1.0;
    scales[0]->setDataRange(QCPRange(0.0, w_hi));
    scales[1]->setDataRange(QCPRange(0.0, w_hi));
    scales[0]->axis()->setLabel(tr("weight"));
    scales[1]->axis()->setLabel(tr("weight"));
    const double d_hi = d_max > 0 ? d_max : 1e-6;
    scales[2]->setDataRange(QCPRange(-d_hi, d_hi));  // symmetric: white is "unchanged"
    scales[2]->axis()->setLabel(tr("Δ weight"));
    queueReplot(m_mapsPlot);
}

void TradeoffView::updateSummary() {
    QStringList lines;
    if (!m_status.isEmpty()) lines << QStringLiteral("<i>%1</i>").arg(m_status);
    if (!m_saveStatus.isEmpty()) lines << m_saveStatus;
    if (!m_outcome) {
        if (lines.isEmpty())
            lines << tr(
                "Converts the current model to MHA, then mean-pools its K/V heads into every coarser grouping "
                "and measures what each saves and loses.");
        m_summary->setText(lines.join(QStringLiteral("<br>")));
        return;
    }
    const TradeoffResult& r = m_outcome->result;
    if (m_outcome->model)
        lines << tr("Started from the checkpoint <b>%1</b> (%2 query heads, %3 KV heads), %4 of %5 layers run on %6; "
                    "perplexity and KL on %7 (%8 tokens); decode steps timed: %9.")
                     .arg(QString::fromStdString(r.config.name).toHtmlEscaped())
                     .arg(r.config.n_q_heads)
                     .arg(r.config.n_kv_heads)
                     .arg(r.layers_run)
                     .arg(r.config.n_layers)
                     .arg(QString::fromStdString(r.backend))
                     .arg(QString::fromStdString(m_outcome->quality_source).toHtmlEscaped())
                     .arg(r.shape.prompt_len)
                     .arg(r.shape.decode_steps);
    else
        lines
            << tr("Started from <b>%1 as MHA</b> (%2 query heads = %2 KV heads), %3 of %4 layers run on %5; batch %6, "
                  "prompt %7 + %8 decode tokens.")
                   .arg(QString::fromStdString(r.config.name).toHtmlEscaped())
                   .arg(r.config.n_q_heads)
                   .arg(r.layers_run)
                   .arg(r.config.n_layers)
                   .arg(QString::fromStdString(r.backend))
                   .arg(r.shape.batch)
                   .arg(r.shape.prompt_len)
                   .arg(r.shape.decode_steps);
    QStringList depth_notes;
    for (const std::string& n : m_outcome->notes) depth_notes << QString::fromStdString(n);
    const QString depth_note = depth_notes.join(QStringLiteral("; "));
    if (!depth_note.isEmpty())
        lines << tr("<span style='color:#8a6d00'>Kept small for a quick sweep: %1.</span>")
                     .arg(depth_note.toHtmlEscaped());
    const int i = pointIndexOf(m_highlightKv);
    const int b = pointIndexOf(r.config.n_kv_heads);
    if (i >= 0 && b >= 0) {
        const TradeoffPoint& p = r.points[static_cast<size_t>(i)];
        const TradeoffPoint& base = r.points[static_cast<size_t>(b)];
        const double saved =
            base.kv_cache_bytes > 0
                ? 100.0 * (1.0 - static_cast<double>(p.kv_cache_bytes) / static_cast<double>(base.kv_cache_bytes))
                : 0.0;
        lines << tr("<b>Current, %1:</b> KV cache %2 (%3% less than the start), decode attention %4 vs %5, "
                    "quality loss <b>%6</b>, attention-map divergence %7 bits.")
                     .arg(pointLabel(p), bytesText(p.kv_cache_bytes))
                     .arg(saved, 0, 'f', 0)
                     .arg(msText(p.decode_attention_ms), msText(base.decode_attention_ms))
                     .arg(p.output_rel_error, 0, 'g', 3)
                     .arg(p.quality.mean_js_bits, 0, 'g', 3);
        lines << tr("Prompt perplexity <b>%1</b> (start %2), next-token KL <b>%3</b> nats.")
                     .arg(p.prompt_perplexity, 0, 'g', 6)
                     .arg(base.prompt_perplexity, 0, 'g', 6)
                     .arg(p.next_token_kl, 0, 'g', 3);
        if (m_outcome->other_method && static_cast<size_t>(i) < m_outcome->other_method->points.size()) {
            const TradeoffPoint& q = m_outcome->other_method->points[static_cast<size_t>(i)];
            lines << tr("With %1 instead: perplexity %2, KL %3 nats.")
                         .arg(m_outcome->other_method->method == ConvertMethod::MeanPool
                                  ? tr("mean-pooled K/V")
                                  : tr("the first K/V head kept"))
                         .arg(q.prompt_perplexity, 0, 'g', 6)
                         .arg(q.next_token_kl, 0, 'g', 3);
        }
    } else {
        lines << tr("The current query-head count differs from the sweep's: sweep again to compare.");
    }
    m_summary->setText(lines.join(QStringLiteral("<br>")));
}

}  // namespace gqa::ui
