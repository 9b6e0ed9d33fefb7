#include "memory_view.h"

#include <QLabel>
#include <QVBoxLayout>

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
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    m_plot = new QCustomPlot(this);
    stylePlot(m_plot);
    m_plot->setToolTip(teach::kvShrinks());
    layout->addWidget(m_plot, 1);
    m_text = new QLabel(this);
    m_text->setObjectName(QStringLiteral("memorySummary"));
    m_text->setWordWrap(true);
    m_text->setTextFormat(Qt::RichText);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_text->setToolTip(teach::kvShrinks());
    layout->addWidget(m_text);
    installExportMenu(m_plot, QStringLiteral("memory"));
    rebuild();
}

void MemoryView::setData(const AnalysisPtr& analysis, const RunResultPtr& result, const std::optional<Snapshot>& pinned) {
    m_analysis = analysis;
    m_result = result;
    m_pinned = pinned;
    rebuild();
}

QString MemoryView::summaryText() const { return m_text->text(); }

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
    addCurve(a.curve_seq, a.curve_kv_mha, tr("MHA (n_kv = %1)").arg(a.config.n_q_heads), QPen(mhaColor(), 2.0, Qt::DashLine));
    m_currentGraph = addCurve(a.curve_seq, a.curve_kv_current,
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
