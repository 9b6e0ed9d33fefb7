#include "memory_view.h"

#include <QDoubleSpinBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "gqa/memory_model.h"

#include <qcustomplot.h>

#include <algorithm>

#include "plot_export.h"
#include "plot_style.h"
#include "teaching_text.h"

namespace gqa::ui {

ByteUnit byteUnitFor(double max_bytes) {
    if (max_bytes >= 4.0 * (1ull << 40)) return {static_cast<double>(1ull << 40), QStringLiteral("TiB")};
    if (max_bytes >= 4.0 * (1ull << 30)) return {static_cast<double>(1ull << 30), QStringLiteral("GiB")};
    if (max_bytes >= 4.0 * (1ull << 20)) return {static_cast<double>(1ull << 20), QStringLiteral("MiB")};
    if (max_bytes >= 4.0 * (1ull << 10)) return {static_cast<double>(1ull << 10), QStringLiteral("KiB")};
    return {1.0, QStringLiteral("B")};
}

MemoryView::MemoryView(QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->setChildrenCollapsible(false);
    outer->addWidget(splitter);

    auto* top = new QWidget(splitter);
    auto* layout = new QVBoxLayout(top);
    layout->setContentsMargins(4, 4, 4, 4);
    m_plot = new QCustomPlot(top);
    stylePlot(m_plot);
    m_plot->setToolTip(teach::kvShrinks());
    layout->addWidget(m_plot, 1);
    m_text = new QLabel(top);
    m_text->setObjectName(QStringLiteral("memorySummary"));
    m_text->setWordWrap(true);
    m_text->setTextFormat(Qt::RichText);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_text->setToolTip(teach::kvShrinks());
    layout->addWidget(m_text);
    installExportMenu(m_plot, QStringLiteral("memory"));

    // ---- Tensor parallelism ------------------------------------------------------------------------
    auto* tp = new QGroupBox(tr("Tensor parallelism: what each GPU holds"), splitter);
    tp->setObjectName(QStringLiteral("tensorParallel"));
    auto* tp_layout = new QVBoxLayout(tp);
    tp_layout->setContentsMargins(6, 4, 6, 4);
    auto* controls = new QHBoxLayout;
    tp_layout->addLayout(controls);
    m_tpDegree = new QSpinBox(tp);
    m_tpDegree->setRange(1, 64);
    m_tpDegree->setValue(8);
    m_tpDegree->setPrefix(tr("t = "));
    m_tpDegree->setSuffix(tr(" GPUs"));
    m_tpDegree->setToolTip(
        tr("The tensor-parallel degree to summarise: the model's heads, FFN and vocabulary split "
           "over t GPUs (Megatron-style)."));
    controls->addWidget(new QLabel(tr("Degree:"), tp));
    controls->addWidget(m_tpDegree);
    m_gpuMemory = new QDoubleSpinBox(tp);
    m_gpuMemory->setRange(1.0, 4096.0);
    m_gpuMemory->setDecimals(0);
    m_gpuMemory->setValue(80.0);
    m_gpuMemory->setSuffix(tr(" GiB"));
    m_gpuMemory->setToolTip(tr("Memory of one GPU, for the longest context each GPU can hold."));
    controls->addSpacing(12);
    controls->addWidget(new QLabel(tr("GPU memory:"), tp));
    controls->addWidget(m_gpuMemory);
    m_tpSummary = new QLabel(tp);
    m_tpSummary->setObjectName(QStringLiteral("tpSummary"));
    m_tpSummary->setWordWrap(true);
    m_tpSummary->setTextFormat(Qt::RichText);
    m_tpSummary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    controls->addSpacing(12);
    controls->addWidget(m_tpSummary, 1);

    m_tpTable = new QTableWidget(0, TpColumns, tp);
    m_tpTable->setObjectName(QStringLiteral("tpTable"));
    m_tpTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_tpTable->setSelectionMode(QAbstractItemView::NoSelection);
    m_tpTable->setFocusPolicy(Qt::NoFocus);
    m_tpTable->setWordWrap(false);
    m_tpTable->verticalHeader()->setVisible(false);
    m_tpTable->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_tpTable->verticalHeader()->setDefaultSectionSize(22);
    m_tpTable->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    const QStringList headers = {tr("t (GPUs)"),       tr("query heads / GPU"),    tr("KV heads / GPU"),
                                 tr("KV replication"), tr("KV cache / GPU"),       tr("weights / GPU"),
                                 tr("total / GPU"),    tr("longest context / GPU")};
    const QStringList header_tips = {
        tr("The tensor-parallel degree: how many GPUs share each layer."),
        tr("n_q / t: each GPU computes attention for its own query heads."),
        tr("max(1, n_kv / t): each GPU keeps the K and V of the KV heads its query heads read. Past t = n_kv a GPU "
           "still needs one whole KV head."),
        tr("max(1, t / n_kv): how many GPUs hold a copy of each KV head. Above 1, adding GPUs no longer shrinks the "
           "per-GPU KV cache: the fewer KV heads GQA keeps, the sooner this happens."),
        tr("2 · layers · batch · tokens · KV heads per GPU · head_dim · bytes, at this run's batch and length."),
        tr("One GPU's share of the weights: 1/t of attention, FFN and vocabulary; norms replicated."),
        tr("Weights + KV cache + activations on one GPU; red when more than the GPU memory."),
        tr("The longest context one GPU can hold at this batch, with the GPU memory above."),
    };
    for (int c = 0; c < TpColumns; ++c) {
        auto* item = new QTableWidgetItem(headers[c]);
        item->setToolTip(header_tips[c]);
        m_tpTable->setHorizontalHeaderItem(c, item);
    }
    tp_layout->addWidget(m_tpTable, 1);
    splitter->addWidget(top);
    splitter->addWidget(tp);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    connect(m_tpDegree, &QSpinBox::valueChanged, this, [this] { rebuildTp(); });
    connect(m_gpuMemory, &QDoubleSpinBox::valueChanged, this, [this] { rebuildTp(); });
    rebuild();
}

int MemoryView::tpDegree() const {
    return m_tpDegree->value();
}
void MemoryView::setTpDegree(int degree) {
    m_tpDegree->setValue(degree);
}
int64_t MemoryView::gpuMemoryBytes() const {
    return static_cast<int64_t>(m_gpuMemory->value() * double(1ll << 30));
}
void MemoryView::setGpuMemoryBytes(int64_t bytes) {
    m_gpuMemory->setValue(static_cast<double>(bytes) / double(1ll << 30));
}
QString MemoryView::tpSummaryText() const {
    return m_tpSummary->text();
}

int MemoryView::tpRowOf(int degree) const {
    for (size_t i = 0; i < m_tpPlans.size(); ++i)
        if (m_tpPlans[i].degree == degree) return static_cast<int>(i);
    return -1;
}

void MemoryView::rebuildTp() {
    m_tpPlans.clear();
    m_tpTable->clearContents();
    m_tpTable->clearSpans();
    m_tpTable->setRowCount(0);
    if (!m_analysis) {
        m_tpSummary->setText(tr("Waiting for the first analysis…"));
        return;
    }
    const Analysis& a = *m_analysis;
    const int64_t batch = a.shape.batch, seq = a.shape.totalTokens(), gpu = gpuMemoryBytes();
    const int chosen = tpDegree();
    // Powers of two (the degrees GPU nodes come in), plus the chosen one.
    for (int t = 1; t <= 64; t *= 2) {
        if (chosen > t / 2 && chosen < t) m_tpPlans.push_back(planTensorParallel(a.config, chosen, batch, seq, gpu));
        m_tpPlans.push_back(planTensorParallel(a.config, t, batch, seq, gpu));
    }
    m_tpTable->setRowCount(static_cast<int>(m_tpPlans.size()));
    const QColor chosen_bg(255, 244, 200);
    for (int r = 0; r < static_cast<int>(m_tpPlans.size()); ++r) {
        const TensorParallelPlan& p = m_tpPlans[static_cast<size_t>(r)];
        const bool is_chosen = p.degree == chosen;
        auto put = [&](int column, const QString& text, const QVariant& value) {
            auto* item = new QTableWidgetItem(text);
            item->setTextAlignment(Qt::AlignCenter);
            item->setData(Qt::UserRole, value);
            if (is_chosen) {
                item->setBackground(chosen_bg);
                QFont f = item->font();
                f.setBold(true);
                item->setFont(f);
            }
            m_tpTable->setItem(r, column, item);
            return item;
        };
        put(TpDegree, QString::number(p.degree), QVariant::fromValue<qlonglong>(p.degree));
        if (!p.valid) {
            QTableWidgetItem* why =
                put(TpQHeads, tr("not possible: %1").arg(QString::fromStdString(p.reason)), QVariant());
            why->setForeground(QColor(150, 40, 40));
            why->setTextAlignment(Qt::AlignLeft | Qt::AlignVCenter);
            why->setToolTip(QString::fromStdString(p.reason));
            m_tpTable->setSpan(r, TpQHeads, 1, TpColumns - TpQHeads);
            continue;
        }
        put(TpQHeads, QString::number(p.q_heads_per_gpu), QVariant::fromValue<qlonglong>(p.q_heads_per_gpu));
        put(TpKvHeads, QString::number(p.kv_heads_per_gpu), QVariant::fromValue<qlonglong>(p.kv_heads_per_gpu));
        QTableWidgetItem* rep = put(TpReplication, p.kv_replication > 1 ? tr("%1×").arg(p.kv_replication) : tr("none"),
                                    QVariant::fromValue<qlonglong>(p.kv_replication));
        if (p.kv_replication > 1) {
            rep->setForeground(QColor(170, 90, 0));
            rep->setToolTip(tr("Each KV head is stored on %1 GPUs: %2 KV heads cannot be split %3 ways.")
                                .arg(p.kv_replication)
                                .arg(a.config.n_kv_heads)
                                .arg(p.degree));
        }
        put(TpKvCache, bytesText(p.kv_cache_bytes_per_gpu), QVariant::fromValue<qlonglong>(p.kv_cache_bytes_per_gpu));
        put(TpWeights, bytesText(p.weight_bytes_per_gpu), QVariant::fromValue<qlonglong>(p.weight_bytes_per_gpu));
        QTableWidgetItem* total =
            put(TpTotal, bytesText(p.total_bytes_per_gpu), QVariant::fromValue<qlonglong>(p.total_bytes_per_gpu));
        if (p.total_bytes_per_gpu > gpu) {
            total->setForeground(QColor(200, 30, 30));
            total->setToolTip(tr("More than one GPU's %1 at this batch and length.").arg(bytesText(gpu)));
        }
        put(TpMaxContext,
            p.max_context_per_gpu > 0 ? countText(static_cast<double>(p.max_context_per_gpu))
                                      : tr("none (weights too big)"),
            QVariant::fromValue<qlonglong>(p.max_context_per_gpu));
    }

    const TensorParallelPlan& p = m_tpPlans[static_cast<size_t>(std::max(0, tpRowOf(chosen)))];
    QString text = tr("<b>%1</b>: n_q = %2, n_kv = %3, batch %4 × %5 tokens. ")
                       .arg(QString::fromStdString(a.config.attentionKind()))
                       .arg(a.config.n_q_heads)
                       .arg(a.config.n_kv_heads)
                       .arg(batch)
                       .arg(countText(static_cast<double>(seq)));
    if (!p.valid) {
        text += tr("<b>t = %1 is not possible</b>: %2.")
                    .arg(p.degree)
                    .arg(QString::fromStdString(p.reason).toHtmlEscaped());
    } else {
        text += tr("<b>t = %1</b>: each GPU computes %2 query head%3 and keeps %4 KV head%5")
                    .arg(p.degree)
                    .arg(p.q_heads_per_gpu)
                    .arg(p.q_heads_per_gpu == 1 ? "" : "s")
                    .arg(p.kv_heads_per_gpu)
                    .arg(p.kv_heads_per_gpu == 1 ? "" : "s");
        text += p.kv_replication > 1 ? tr(", each stored on %1 GPUs").arg(p.kv_replication) : QString();
        text += tr(" — KV cache %1 per GPU.").arg(bytesText(p.kv_cache_bytes_per_gpu));
        if (p.kv_replication > 1)
            text += tr(" Past t = n_kv = %1 the per-GPU KV cache stops shrinking: every GPU needs one whole KV head.")
                        .arg(a.config.n_kv_heads);
    }
    m_tpSummary->setText(text);
}

void MemoryView::setData(const AnalysisPtr& analysis, const RunResultPtr& result,
                         const std::optional<Snapshot>& pinned) {
    m_analysis = analysis;
    m_result = result;
    m_pinned = pinned;
    rebuild();
}

QString MemoryView::summaryText() const {
    return m_text->text();
}

void MemoryView::rebuild() {
    ++m_updates;
    m_plot->clearItems();
    m_plot->clearPlottables();
    m_plot->plotLayout()->clear();
    m_currentGraph = nullptr;

    auto* kv_rect = new QCPAxisRect(m_plot);
    auto* bar_rect = new QCPAxisRect(m_plot);
    auto* title_kv = new QCPTextElement(m_plot, tr("KV cache against sequence length"), titleFont());
    auto* title_bar = new QCPTextElement(m_plot, tr("Whole model: weights + KV cache + activations"), titleFont());
    m_plot->plotLayout()->addElement(0, 0, title_kv);
    m_plot->plotLayout()->addElement(0, 1, title_bar);
    m_plot->plotLayout()->addElement(1, 0, kv_rect);
    m_plot->plotLayout()->addElement(1, 1, bar_rect);
    m_plot->plotLayout()->setRowStretchFactor(0, 0.001);
    m_plot->plotLayout()->setColumnStretchFactor(0, 1.15);
    styleAxisRect(kv_rect);
    styleAxisRect(bar_rect);
    auto* group = new QCPMarginGroup(m_plot);
    kv_rect->setMarginGroup(QCP::msTop | QCP::msBottom, group);
    bar_rect->setMarginGroup(QCP::msTop | QCP::msBottom, group);

    rebuildTp();
    if (!m_analysis) {
        m_text->setText(tr("Waiting for the first analysis…"));
        queueReplot(m_plot);
        return;
    }
    const Analysis& a = *m_analysis;
    const double device_bytes = static_cast<double>(a.device.available_bytes);

    // ---- KV cache curves (log y) ----------------------------------------------------------------
    double kv_max = 1.0;
    for (double v : a.curve_kv_mha) kv_max = std::max(kv_max, v);
    if (m_pinned)
        for (double v : m_pinned->curve_kv) kv_max = std::max(kv_max, v);
    const ByteUnit ku = byteUnitFor(kv_max);
    QCPAxis* kx = kv_rect->axis(QCPAxis::atBottom);
    QCPAxis* ky = kv_rect->axis(QCPAxis::atLeft);
    kx->setLabel(tr("sequence length (tokens), batch %1").arg(a.shape.batch));
    ky->setLabel(tr("KV cache (%1, log scale)").arg(ku.name));
    ky->setScaleType(QCPAxis::stLogarithmic);
    ky->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    ky->setNumberFormat(QStringLiteral("gb"));
    auto addCurve = [&](const std::vector<double>& xs, const std::vector<double>& ys, const QString& name, QPen pen) {
        auto* graph = new QCPGraph(kx, ky);
        graph->setName(name);
        graph->setPen(pen);
        QVector<double> gx, gy;
        for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
            if (ys[i] <= 0) continue;
            gx.push_back(xs[i]);
            gy.push_back(ys[i] / ku.bytes);
        }
        graph->setData(gx, gy, true);
        return graph;
    };
    ModelConfig mha = a.config;
    mha.n_kv_heads = a.config.n_q_heads;
    addCurve(a.curve_seq, a.curve_kv_mha, tr("MHA (n_kv = %1)").arg(a.config.n_q_heads),
             QPen(mhaColor(), 2.0, Qt::DashLine));
    m_currentGraph = addCurve(
        a.curve_seq, a.curve_kv_current,
        tr("current: %1, n_kv = %2").arg(QString::fromStdString(a.config.attentionKind())).arg(a.config.n_kv_heads),
        QPen(currentColor(), 3.0));
    addCurve(a.curve_seq, a.curve_kv_mqa, tr("MQA (n_kv = 1)"), QPen(mqaColor(), 2.0, Qt::DashDotLine));
    if (m_pinned && !m_pinned->curve_seq.empty())
        addCurve(m_pinned->curve_seq, m_pinned->curve_kv, tr("pinned: %1").arg(m_pinned->label),
                 QPen(pinnedColor(), 2.0, Qt::DotLine));
    const double x_max = a.curve_seq.empty() ? 1.0 : a.curve_seq.back();
    kx->setRange(0, x_max);
    double y_min = std::max(1.0, a.curve_kv_mqa.size() > 1 ? a.curve_kv_mqa[1] : 1.0) / ku.bytes;
    double y_max = kv_max / ku.bytes;
    // The device line only when it is on a readable scale; otherwise its size is said in words.
    const bool device_on_kv_scale = device_bytes > 0 && device_bytes / ku.bytes < y_max * 100.0;
    if (device_on_kv_scale) y_max = std::max(y_max, device_bytes / ku.bytes);
    ky->setRange(y_min * 0.5, y_max * 3.0);
    if (device_on_kv_scale) {
        auto* dev = new QCPItemStraightLine(m_plot);
        dev->setClipAxisRect(kv_rect);
        dev->point1->setAxes(kx, ky);
        dev->point2->setAxes(kx, ky);
        dev->point1->setCoords(0, device_bytes / ku.bytes);
        dev->point2->setCoords(1, device_bytes / ku.bytes);
        dev->setPen(QPen(deviceColor(), 1.5, Qt::DashLine));
    }
    if (device_bytes > 0) {
        auto* label = new QCPItemText(m_plot);
        label->setClipAxisRect(kv_rect);
        if (device_on_kv_scale) {
            label->position->setAxes(kx, ky);
            label->position->setCoords(x_max * 0.98, device_bytes / ku.bytes);
            label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
            label->setText(tr("device memory available: %1").arg(bytesText(a.device.available_bytes)));
        } else {
            label->position->setType(QCPItemPosition::ptAxisRectRatio);
            label->position->setAxisRect(kv_rect);
            label->position->setCoords(0.98, 0.02);
            label->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
            label->setText(tr("device memory available: %1\n(%2× the MHA cache at full length, above this plot)")
                               .arg(bytesText(a.device.available_bytes))
                               .arg(countText(device_bytes / kv_max)));
            label->setTextAlignment(Qt::AlignRight);
        }
        label->setColor(deviceColor());
        label->setFont(smallFont());
    }
    auto vline = [&](double x, const QColor& color, const QString& text, Qt::Alignment align) {
        auto* line = new QCPItemStraightLine(m_plot);
        line->setClipAxisRect(kv_rect);
        line->point1->setAxes(kx, ky);
        line->point2->setAxes(kx, ky);
        line->point1->setCoords(x, 1);
        line->point2->setCoords(x, 2);
        line->setPen(QPen(color, 1.2, Qt::DotLine));
        auto* label = new QCPItemText(m_plot);
        label->setClipAxisRect(kv_rect);
        label->position->setType(QCPItemPosition::ptPlotCoords);
        label->position->setAxes(kx, ky);
        label->position->setCoords(x, y_min * 0.7);
        label->setPositionAlignment(align | Qt::AlignBottom);
        label->setText(text);
        label->setColor(color.darker(120));
        label->setFont(smallFont());
        label->setPadding(QMargins(3, 0, 3, 0));
    };
    const double run_len = static_cast<double>(a.shape.totalTokens());
    vline(run_len, QColor(60, 60, 60), tr("this run: %1 tokens").arg(a.shape.totalTokens()),
          run_len < x_max * 0.6 ? Qt::AlignLeft : Qt::AlignRight);
    if (a.max_context_tokens > 0 && static_cast<double>(a.max_context_tokens) < x_max)
        vline(static_cast<double>(a.max_context_tokens), QColor(0, 130, 60),
              tr("longest context that fits: %1").arg(countText(static_cast<double>(a.max_context_tokens))),
              static_cast<double>(a.max_context_tokens) < x_max * 0.6 ? Qt::AlignLeft : Qt::AlignRight);
    auto* kv_legend = new QCPLegend;
    kv_rect->insetLayout()->addElement(kv_legend, Qt::AlignTop | Qt::AlignLeft);
    kv_legend->setLayer(QStringLiteral("legend"));
    kv_legend->setFont(smallFont());
    kv_legend->setBrush(QColor(255, 255, 255, 215));
    for (int i = 0; i < m_plot->plottableCount(); ++i)
        if (m_plot->plottable(i)->keyAxis() == kx) m_plot->plottable(i)->addToLegend(kv_legend);

    // ---- Stacked bars: weights + KV + activations --------------------------------------------------
    struct Column {
        QString label;
        double weights, kv, act;
    };
    std::vector<Column> cols;
    cols.push_back({tr("MHA\n(analytic)"), double(a.memory_mha.weight_bytes), double(a.memory_mha.kv_cache_bytes),
                    double(a.memory_mha.activation_bytes)});
    cols.push_back({tr("current\n(analytic)"), double(a.memory.weight_bytes), double(a.memory.kv_cache_bytes),
                    double(a.memory.activation_bytes)});
    cols.push_back({tr("MQA\n(analytic)"), double(a.memory_mqa.weight_bytes), double(a.memory_mqa.kv_cache_bytes),
                    double(a.memory_mqa.activation_bytes)});
    if (m_result) {
        const RunResult& r = *m_result;
        cols.push_back({tr("%1 layer%2 run\n(analytic)").arg(r.layers_run).arg(r.layers_run == 1 ? "" : "s"),
                        double(r.memory_run.weight_bytes), double(r.memory_run.kv_cache_bytes),
                        double(r.memory_run.activation_bytes)});
        cols.push_back({tr("%1 layer%2 run\n(allocated)").arg(r.layers_run).arg(r.layers_run == 1 ? "" : "s"),
                        double(r.allocated.weight_bytes), double(r.allocated.kv_cache_bytes),
                        double(r.allocated.activation_bytes)});
    }
    if (m_pinned)
        cols.push_back({tr("pinned\n%1").arg(QString::fromStdString(m_pinned->config.attentionKind())),
                        double(m_pinned->memory.weight_bytes), double(m_pinned->memory.kv_cache_bytes),
                        double(m_pinned->memory.activation_bytes)});
    double bar_max = 1.0;
    for (const Column& c : cols) bar_max = std::max(bar_max, c.weights + c.kv + c.act);
    const bool device_on_scale = device_bytes > 0 && device_bytes < bar_max * 8.0;
    const ByteUnit bu = byteUnitFor(device_on_scale ? std::max(bar_max, device_bytes) : bar_max);
    QCPAxis* bx = bar_rect->axis(QCPAxis::atBottom);
    QCPAxis* by = bar_rect->axis(QCPAxis::atLeft);
    by->setLabel(tr("memory (%1)").arg(bu.name));
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (size_t i = 0; i < cols.size(); ++i) ticker->addTick(static_cast<double>(i), cols[i].label);
    bx->setTicker(ticker);
    bx->setTickLabelFont(smallFont());
    bx->grid()->setVisible(false);
    bx->setRange(-0.6, static_cast<double>(cols.size()) - 0.4);
    auto makeBars = [&](const QString& name, const QColor& color, double Column::*field) {
        auto* bars = new QCPBars(bx, by);
        bars->setName(name);
        bars->setWidth(0.62);
        bars->setPen(QPen(color.darker(130)));
        bars->setBrush(color);
        QVector<double> keys, values;
        for (size_t i = 0; i < cols.size(); ++i) {
            keys.push_back(static_cast<double>(i));
            values.push_back(cols[i].*field / bu.bytes);
        }
        bars->setData(keys, values, true);
        return bars;
    };
    QCPBars* w = makeBars(tr("weights"), QColor(150, 170, 200), &Column::weights);
    QCPBars* kv = makeBars(tr("KV cache"), QColor(31, 119, 180), &Column::kv);
    QCPBars* act = makeBars(tr("activations"), QColor(255, 170, 90), &Column::act);
    kv->moveAbove(w);
    act->moveAbove(kv);
    double y_top = bar_max / bu.bytes * 1.45;
    if (device_on_scale) {
        y_top = std::max(y_top, device_bytes / bu.bytes * 1.12);
        auto* dev = new QCPItemStraightLine(m_plot);
        dev->setClipAxisRect(bar_rect);
        dev->point1->setAxes(bx, by);
        dev->point2->setAxes(bx, by);
        dev->point1->setCoords(0, device_bytes / bu.bytes);
        dev->point2->setCoords(1, device_bytes / bu.bytes);
        dev->setPen(QPen(deviceColor(), 2.0, Qt::DashLine));
    }
    auto* dev_label = new QCPItemText(m_plot);
    dev_label->setClipAxisRect(bar_rect);
    dev_label->position->setType(QCPItemPosition::ptAxisRectRatio);
    dev_label->position->setAxisRect(bar_rect);
    dev_label->position->setCoords(0.98, device_on_scale ? 0.02 : 0.02);
    dev_label->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    dev_label->setColor(deviceColor());
    dev_label->setFont(smallFont());
    dev_label->setTextAlignment(Qt::AlignRight);
    dev_label->setText(device_on_scale
                           ? tr("dashed: device memory\navailable (%1)").arg(bytesText(a.device.available_bytes))
                           : tr("device memory available: %1\n(%2× the tallest bar, off the scale)")
                                 .arg(bytesText(a.device.available_bytes))
                                 .arg(countText(device_bytes / bar_max)));
    by->setRange(0, y_top);
    auto* bar_legend = new QCPLegend;
    bar_rect->insetLayout()->addElement(bar_legend, Qt::AlignTop | Qt::AlignLeft);
    bar_legend->setLayer(QStringLiteral("legend"));
    bar_legend->setFont(smallFont());
    bar_legend->setBrush(QColor(255, 255, 255, 215));
    act->addToLegend(bar_legend);
    kv->addToLegend(bar_legend);
    w->addToLegend(bar_legend);

    // ---- Numbers ---------------------------------------------------------------------------------
    const int64_t g = std::max<int64_t>(1, a.config.groupSize());
    QStringList lines;
    lines << tr("<b>KV cache</b> at batch %1 × %2 tokens: <b>%3</b> for %4 — MHA would need %5 (%6× more), MQA %7. "
                "Per token: %8.")
                 .arg(a.shape.batch)
                 .arg(a.shape.totalTokens())
                 .arg(bytesText(a.memory.kv_cache_bytes), QString::fromStdString(a.config.attentionKind()),
                      bytesText(a.memory_mha.kv_cache_bytes))
                 .arg(g)
                 .arg(bytesText(a.memory_mqa.kv_cache_bytes), bytesText(a.memory.kv_bytes_per_token));
    if (a.config.hasWindow()) {
        // GQA and the window multiply: against MHA with full attention, the cache shrinks by g times the window's
        // own factor (T / min(T, w) per layer).
        ModelConfig full = a.config;
        full.sliding_window = 0;
        full.layer_windows.clear();
        ModelConfig mha_full = full;
        mha_full.n_kv_heads = mha_full.n_q_heads;
        const int64_t seq = a.shape.totalTokens();
        const double kv_full = static_cast<double>(estimateMemory(full, a.shape.batch, seq).kv_cache_bytes);
        const double kv_mha_full = static_cast<double>(estimateMemory(mha_full, a.shape.batch, seq).kv_cache_bytes);
        const double kv = static_cast<double>(std::max<int64_t>(a.memory.kv_cache_bytes, 1));
        lines << tr("<b>Sliding window</b> %1: the cache holds %2 instead of %3 with full attention (÷%4). With "
                    "GQA's ÷%5 the two multiply: ÷%6 against MHA with full attention (%7).")
                     .arg(QString::fromStdString(a.config.windowText()).toHtmlEscaped(),
                          bytesText(a.memory.kv_cache_bytes), bytesText(static_cast<int64_t>(kv_full)))
                     .arg(kv_full / kv, 0, 'f', 2)
                     .arg(g)
                     .arg(kv_mha_full / kv, 0, 'f', 1)
                     .arg(bytesText(static_cast<int64_t>(kv_mha_full)));
    }
    lines << tr("<b>Whole model</b> (%1 layers, %2 parameters, %3): weights %4 + KV %5 + activations %6 = <b>%7</b>. "
                "Device %8: %9 available, of which the fit check uses 90%.")
                 .arg(a.config.n_layers)
                 .arg(countText(static_cast<double>(a.memory.param_count)))
                 .arg(storageText(a.config))
                 .arg(bytesText(a.memory.weight_bytes), bytesText(a.memory.kv_cache_bytes),
                      bytesText(a.memory.activation_bytes), bytesText(a.memory.total_bytes),
                      QString::fromStdString(a.device.name), bytesText(a.device.available_bytes));
    lines << tr("<b>Fits?</b> %1 Longest context that fits at batch %2: <b>%3 tokens</b>; largest batch at %4 tokens: "
                "<b>%5</b>.")
                 .arg(a.fit.fits ? tr("yes.")
                                 : tr("no — %1; at most %2 of %3 layers fit.")
                                       .arg(QString::fromStdString(a.fit.message).toHtmlEscaped())
                                       .arg(a.fit.max_layers_that_fit)
                                       .arg(a.config.n_layers))
                 .arg(a.shape.batch)
                 .arg(countText(static_cast<double>(a.max_context_tokens)))
                 .arg(a.shape.totalTokens())
                 .arg(countText(static_cast<double>(a.max_batch)));
    if (a.max_context_tokens == 0)
        lines.back() += tr(" (none: the weights alone, as stored, take more than the device has)");
    if (m_result) {
        const RunResult& r = *m_result;
        // Side by side per part, so a difference shows where it comes from.
        lines << tr("<b>Measured allocation</b> (%1 of %2 layers on %3): %4 against the analytic %5 for the same "
                    "layers — weights %6 / %7, KV cache %8 / %9, activations %10 / %11 (measured / analytic).")
                     .arg(r.layers_run)
                     .arg(r.config.n_layers)
                     .arg(QString::fromStdString(r.backend))
                     .arg(bytesText(r.allocated.total()), bytesText(r.memory_run.total_bytes),
                          bytesText(r.allocated.weight_bytes), bytesText(r.memory_run.weight_bytes),
                          bytesText(r.allocated.kv_cache_bytes), bytesText(r.memory_run.kv_cache_bytes),
                          bytesText(r.allocated.activation_bytes), bytesText(r.memory_run.activation_bytes));
        if (m_analysis && m_analysis->map_bytes > 0)
            lines.back() += tr(" The attention maps kept for this view add %1.").arg(bytesText(m_analysis->map_bytes));
    } else {
        lines << tr("<i>Measured allocation appears when the run finishes.</i>");
    }
    if (m_pinned)
        lines << tr("<b>Pinned</b> %1: KV %2, total %3, longest context %4 tokens.")
                     .arg(m_pinned->label.toHtmlEscaped(), bytesText(m_pinned->memory.kv_cache_bytes),
                          bytesText(m_pinned->memory.total_bytes))
                     .arg(countText(static_cast<double>(m_pinned->max_context_tokens)));
    m_text->setText(lines.join(QStringLiteral("<br>")));
    queueReplot(m_plot);
}

}  // namespace gqa::ui
