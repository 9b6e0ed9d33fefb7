#include "latency_view.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

#include "memory_view.h"
#include "plot_export.h"
#include "plot_style.h"
#include "teaching_text.h"

namespace gqa::ui {

namespace {

QCPLegend* insetLegend(QCustomPlot* plot, QCPAxisRect* rect, Qt::Alignment where) {
    auto* legend = new QCPLegend;
    rect->insetLayout()->addElement(legend, where);
    legend->setLayer(QStringLiteral("legend"));
    legend->setFont(smallFont());
    legend->setBrush(QColor(255, 255, 255, 215));
    legend->setRowSpacing(-2);
    return legend;
}

// A legend in its own row under the plots, filled left to right and wrapped, so it never hides data.
QCPLegend* bottomLegend(QCustomPlot* plot, int row, int wrap) {
    auto* legend = new QCPLegend;
    plot->plotLayout()->addElement(row, 0, legend);
    plot->plotLayout()->setRowStretchFactor(row, 0.001);
    legend->setLayer(QStringLiteral("legend"));
    legend->setFont(smallFont());
    legend->setBorderPen(Qt::NoPen);
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    legend->setWrap(wrap);
    legend->setRowSpacing(0);
    legend->setColumnSpacing(8);
    legend->setMargins(QMargins(4, 0, 4, 2));
    return legend;
}

void resetPlot(QCustomPlot* plot) {
    plot->clearItems();
    plot->clearPlottables();
    plot->plotLayout()->clear();
}

QCPAxisRect* addTitledRect(QCustomPlot* plot, int row, int col, const QString& title) {
    auto* box = new QCPLayoutGrid;
    plot->plotLayout()->addElement(row, col, box);
    box->setRowSpacing(0);
    auto* text = new QCPTextElement(plot, title, titleFont());
    box->addElement(0, 0, text);
    auto* rect = new QCPAxisRect(plot);
    box->addElement(1, 0, rect);
    box->setRowStretchFactor(0, 0.001);
    styleAxisRect(rect);
    return rect;
}

// "12.3 ms (11.9–13.1, 7 repeats)": a median with the min–max of its repeats, scaled (e.g. per decode token).
QString withSpread(const TimingStats& t, double scale = 1.0) {
    if (t.repeats < 1) return msText(t.median_ms * scale);
    return LatencyView::tr("%1 (%2–%3, %4 repeat%5)")
        .arg(msText(t.median_ms * scale), msText(t.min_ms * scale), msText(t.max_ms * scale))
        .arg(t.repeats)
        .arg(t.repeats == 1 ? "" : "s");
}

// Live against pinned, one phase: the ratio, or "no measurable difference" when their spreads overlap.
QString versus(const TimingStats& live, const TimingStats& pinned) {
    const Spread a = Spread::of(live), b = Spread::of(pinned);
    if (a.overlaps(b)) return LatencyView::tr("no measurable difference");
    if (pinned.median_ms <= 0.0) return QString();
    return LatencyView::tr("%1× pinned").arg(live.median_ms / pinned.median_ms, 0, 'g', 3);
}

QSharedPointer<QCPAxisTickerText> opTicker() {
    auto t = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (int k = 0; k < kNumOps; ++k) t->addTick(k, QString::fromLatin1(opName(static_cast<Op>(k))));
    return t;
}

}  // namespace

LatencyView::LatencyView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("latencySummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::RichText);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_summary->setToolTip(teach::roofline() + QStringLiteral("<br><br>") + teach::flopsDoNot());
    layout->addWidget(m_summary);

    auto* split = new QSplitter(Qt::Vertical, this);
    layout->addWidget(split, 1);
    auto* top = new QSplitter(Qt::Horizontal, split);
    m_layerPlot = new QCustomPlot(top);
    m_opPlot = new QCustomPlot(top);
    for (QCustomPlot* p : {m_layerPlot, m_opPlot}) {
        stylePlot(p);
        p->setToolTip(teach::roofline());
    }
    top->addWidget(m_layerPlot);
    top->addWidget(m_opPlot);

    auto* sweep_box = new QWidget(split);
    auto* sweep_layout = new QVBoxLayout(sweep_box);
    sweep_layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    m_sweep = new QPushButton(tr("Sweep every KV-head count"), sweep_box);
    m_sweep->setToolTip(
        tr("Runs the current model once per valid KV-head count (one runModel each, on the worker) "
           "and plots decode latency and KV-cache size against the number of groups."));
    m_cancelSweep = new QPushButton(tr("Cancel"), sweep_box);
    m_cancelSweep->setEnabled(false);
    m_progress = new QProgressBar(sweep_box);
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(tr("no sweep yet"));
    m_sweepStatus = new QLabel(sweep_box);
    bar->addWidget(m_sweep);
    bar->addWidget(m_cancelSweep);
    bar->addWidget(m_progress, 1);
    bar->addWidget(m_sweepStatus, 2);
    sweep_layout->addLayout(bar);
    m_sweepPlot = new QCustomPlot(sweep_box);
    stylePlot(m_sweepPlot);
    m_sweepPlot->setToolTip(teach::kvShrinks());
    sweep_layout->addWidget(m_sweepPlot, 1);
    split->addWidget(top);
    split->addWidget(sweep_box);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    installExportMenu(m_layerPlot, QStringLiteral("latency_per_layer"));
    installExportMenu(m_opPlot, QStringLiteral("latency_per_op"));
    installExportMenu(m_sweepPlot, QStringLiteral("kv_head_sweep"));
    connect(m_sweep, &QPushButton::clicked, this, &LatencyView::sweepRequested);
    connect(m_cancelSweep, &QPushButton::clicked, this, &LatencyView::sweepCancelRequested);
    setData(nullptr, nullptr, std::nullopt);
    rebuildSweep();
}

void LatencyView::setData(const AnalysisPtr& analysis, const RunResultPtr& result,
                          const std::optional<Snapshot>& pinned) {
    ++m_updates;
    m_analysis = analysis;
    m_result = result;
    m_pinned = pinned;
    // A sweep of another model says nothing about this one.
    if (m_analysis && !m_points.empty() && !m_cancelSweep->isEnabled() &&
        !sameModelShape(m_sweepConfig, m_analysis->config))
        clearSweep();
    rebuildLayers();
    rebuildOps();
    if (m_analysis && m_points.empty() && !m_cancelSweep->isEnabled()) m_sweepConfig = m_analysis->config;
    rebuildSweep();  // moves the "current" marker

    if (!m_analysis) {
        m_summary->setText(tr("Waiting for the first analysis…"));
        return;
    }
    const Analysis& a = *m_analysis;
    QStringList lines;
    const QString ceil_src = QString::fromStdString(a.ceilings.provenance());
    lines << tr("<b>Roofline ceilings</b> on %1: memory bandwidth <b>%2</b>, GEMM rate <b>%3</b> (%4).")
                 .arg(QString::fromStdString(a.device.name).toHtmlEscaped(),
                      rateText(a.ceilings.mem_bw_bytes_per_s, "B"), rateText(a.ceilings.gemm_flops_per_s, "FLOP"),
                      ceil_src);
    if (m_result) {
        const RunResult& r = *m_result;
        const double steps = static_cast<double>(std::max<int64_t>(1, r.shape.decode_steps));
        lines << tr("<b>Prefill</b> %1 (roofline %2) · <b>%3 tokens/s</b> &nbsp;|&nbsp; <b>Decode</b> %4 per token "
                    "(roofline %5) · <b>%6 tokens/s</b> &nbsp;— %7 of %8 layers on %9.")
                     .arg(withSpread(r.prefill.total), msText(r.prefill.predicted_ms),
                          countText(r.prefill.tokens_per_s), withSpread(r.decode.total, 1.0 / steps),
                          msText(r.decode.predicted_ms / steps), countText(r.decode.tokens_per_s))
                     .arg(r.layers_run)
                     .arg(r.config.n_layers)
                     .arg(QString::fromStdString(r.backend));
    } else {
        lines << tr("<i>Measured timings appear when the run finishes.</i>");
    }
    const double steps = static_cast<double>(std::max<int64_t>(1, a.shape.decode_steps));
    lines
        << tr("<b>Whole model</b> (%1 layers, roofline): prefill %2, decode %3 per token. Score FLOPs of the prefill: "
              "%4 — the same for MHA, GQA and MQA; only the bytes change.")
               .arg(a.config.n_layers)
               .arg(msText(a.prefill_pred_total_ms), msText(a.decode_pred_total_ms / steps),
                    rateText(a.attention_score_flops, "FLOP").replace(QStringLiteral("/s"), QString()));
    if (m_pinned) {
        const double pinned_steps = static_cast<double>(std::max<int64_t>(1, m_pinned->shape.decode_steps));
        QString line =
            tr("<b>Pinned</b> %1: prefill %2 · %3 tokens/s, decode %4 per token · %5 tokens/s.")
                .arg(m_pinned->label.toHtmlEscaped(), withSpread(m_pinned->prefill_total),
                     countText(m_pinned->prefill_tokens_per_s), withSpread(m_pinned->decode_total, 1.0 / pinned_steps),
                     countText(m_pinned->decode_tokens_per_s));
        // Same shape of run: say whether the two phases differ beyond their spreads.
        if (m_result && m_result->shape.prompt_len == m_pinned->shape.prompt_len &&
            m_result->shape.decode_steps == m_pinned->shape.decode_steps &&
            m_result->shape.batch == m_pinned->shape.batch && m_result->layers_run == m_pinned->layers_run) {
            const QString pre = versus(m_result->prefill.total, m_pinned->prefill_total);
            const QString dec = versus(m_result->decode.total, m_pinned->decode_total);
            if (!pre.isEmpty() || !dec.isEmpty())
                line += tr(" Live against pinned: prefill <b>%1</b>, decode <b>%2</b>.").arg(pre, dec);
        }
        lines << line;
    }
    m_summary->setText(lines.join(QStringLiteral("<br>")));
}

QString LatencyView::summaryText() const {
    return m_summary->text();
}

QString LatencyView::sweepStatusText() const {
    return m_sweepStatus->text();
}

void LatencyView::rebuildLayers() {
    resetPlot(m_layerPlot);
    QCPAxisRect* pre = addTitledRect(m_layerPlot, 0, 0, tr("Prefill: time per layer, by op"));
    QCPAxisRect* dec = addTitledRect(m_layerPlot, 1, 0, tr("Decode (all steps): time per layer, by op"));
    auto* group = new QCPMarginGroup(m_layerPlot);
    pre->setMarginGroup(QCP::msLeft | QCP::msRight, group);
    dec->setMarginGroup(QCP::msLeft | QCP::msRight, group);
    QCPLegend* legend = bottomLegend(m_layerPlot, 2, 4);
    struct Phase {
        QCPAxisRect* rect;
        const PhaseProfile* profile;
        const std::vector<double>* pinned;
        const std::array<double, kNumOps>* pred_full;
    };
    const RunResult* r = m_result.get();
    std::vector<Phase> phases = {
        {pre, r ? &r->prefill : nullptr, m_pinned ? &m_pinned->prefill_layer_ms : nullptr,
         m_analysis ? &m_analysis->prefill_pred_ms : nullptr},
        {dec, r ? &r->decode : nullptr, m_pinned ? &m_pinned->decode_layer_ms : nullptr,
         m_analysis ? &m_analysis->decode_pred_ms : nullptr},
    };
    for (size_t pi = 0; pi < phases.size(); ++pi) {
        const Phase& ph = phases[pi];
        QCPAxis* x = ph.rect->axis(QCPAxis::atBottom);
        QCPAxis* y = ph.rect->axis(QCPAxis::atLeft);
        x->setLabel(tr("layer"));
        y->setLabel(tr("ms"));
        x->grid()->setVisible(false);
        const int64_t layers = ph.profile ? static_cast<int64_t>(ph.profile->layer_ms.size()) : 0;
        double y_max = 0.0;
        QCPBars* below = nullptr;
        QCPBars* top = nullptr;
        for (int k = 0; k < kNumOps; ++k) {
            auto* bars = new QCPBars(x, y);
            bars->setName(QString::fromLatin1(opName(static_cast<Op>(k))));
            bars->setWidth(layers > 40 ? 0.9 : 0.7);
            bars->setPen(layers > 40 ? QPen(Qt::NoPen) : QPen(opColor(static_cast<Op>(k)).darker(130)));
            bars->setBrush(opColor(static_cast<Op>(k)));
            QVector<double> keys, vals;
            for (int64_t l = 0; l < layers; ++l) {
                keys.push_back(static_cast<double>(l));
                vals.push_back(ph.profile->layer_ms[static_cast<size_t>(l)][static_cast<size_t>(k)]);
            }
            bars->setData(keys, vals, true);
            if (below) bars->moveAbove(below);
            below = bars;
            top = bars;
            if (pi == 0) bars->addToLegend(legend);
        }
        // Each layer's spread over the repeats (min to max of its total), drawn from the top of its stack.
        QVector<double> minus, plus;
        for (int64_t l = 0; l < layers; ++l) {
            double sum = 0.0;
            for (double v : ph.profile->layer_ms[static_cast<size_t>(l)]) sum += v;
            const auto lt = static_cast<size_t>(l) < ph.profile->layer_total.size()
                                ? ph.profile->layer_total[static_cast<size_t>(l)]
                                : TimingStats{};
            minus.push_back(lt.repeats > 0 ? std::max(0.0, lt.median_ms - lt.min_ms) : 0.0);
            plus.push_back(lt.repeats > 0 ? std::max(0.0, lt.max_ms - lt.median_ms) : 0.0);
            y_max = std::max(y_max, sum + plus.back());
        }
        if (top && layers > 0) {
            QCPErrorBars* spread = addSpreadBars(top, minus, plus);
            if (pi == 0) spread->addToLegend(legend);
        }
        // The roofline prediction per layer (the cost model is the same for every layer).
        if (ph.pred_full && m_analysis && m_analysis->config.n_layers > 0) {
            double per_layer = 0.0;
            for (double v : *ph.pred_full) per_layer += v;
            per_layer /= static_cast<double>(m_analysis->config.n_layers);
            auto* line = new QCPGraph(x, y);
            line->setName(tr("roofline per layer"));
            line->setPen(QPen(Qt::black, 1.5, Qt::DashLine));
            const double x1 = static_cast<double>(std::max<int64_t>(layers, 1)) - 0.5;
            line->setData(QVector<double>{-0.5, x1}, QVector<double>{per_layer, per_layer}, true);
            y_max = std::max(y_max, per_layer);
            if (pi == 0) line->addToLegend(legend);
        }
        if (ph.pinned && !ph.pinned->empty()) {
            auto* pinned = new QCPGraph(x, y);
            pinned->setName(tr("pinned total"));
            pinned->setPen(QPen(pinnedColor(), 1.5));
            pinned->setLineStyle(QCPGraph::lsNone);
            pinned->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, pinnedColor(), pinnedColor(), 8));
            QVector<double> keys, vals;
            // Only at layers this run has: a pinned deeper model's extra layers have no bar to compare with.
            const size_t shown = std::min(ph.pinned->size(), static_cast<size_t>(std::max<int64_t>(layers, 0)));
            for (size_t l = 0; l < shown; ++l) {
                keys.push_back(static_cast<double>(l));
                vals.push_back((*ph.pinned)[l]);
                y_max = std::max(y_max, (*ph.pinned)[l]);
            }
            pinned->setData(keys, vals, true);
            if (pi == 0) pinned->addToLegend(legend);
        }
        const int64_t span = layers;
        x->setRange(-0.7, static_cast<double>(std::max<int64_t>(span, 1)) - 0.3);
        auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
        ticker->setTickStep(1.0);
        ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        x->setTicker(ticker);
        y->setRange(0, y_max > 0 ? y_max * 1.12 : 1.0);
        if (!ph.profile) {
            auto* note = new QCPItemText(m_layerPlot);
            note->setClipAxisRect(ph.rect);
            note->position->setType(QCPItemPosition::ptAxisRectRatio);
            note->position->setAxisRect(ph.rect);
            note->position->setCoords(0.5, 0.5);
            note->setText(tr("waiting for the run…"));
            note->setColor(QColor(120, 120, 120));
        }
    }
    queueReplot(m_layerPlot);
}

void LatencyView::rebuildOps() {
    resetPlot(m_opPlot);
    QCPAxisRect* pre = addTitledRect(m_opPlot, 0, 0, tr("Prefill by op: measured vs roofline"));
    QCPAxisRect* dec = addTitledRect(m_opPlot, 1, 0, tr("Decode by op: measured vs roofline"));
    auto* group = new QCPMarginGroup(m_opPlot);
    pre->setMarginGroup(QCP::msLeft | QCP::msRight, group);
    dec->setMarginGroup(QCP::msLeft | QCP::msRight, group);
    QCPLegend* legend = bottomLegend(m_opPlot, 2, 2);
    const RunResult* r = m_result.get();
    struct Series {
        QString name;
        QColor color;
        std::array<double, kNumOps> pre, dec;
        std::array<TimingStats, kNumOps> pre_spread{}, dec_spread{};  // repeats 0: none (the roofline)
    };
    std::vector<Series> series;
    if (r) {
        Series m{
            tr("measured (%1 layer%2)").arg(r->layers_run).arg(r->layers_run == 1 ? "" : "s"), currentColor(), {}, {}};
        Series p{tr("roofline (same layers)"), QColor(170, 170, 170), {}, {}};
        for (int k = 0; k < kNumOps; ++k) {
            m.pre[k] = r->prefill.ops[k].measured_ms;
            m.dec[k] = r->decode.ops[k].measured_ms;
            m.pre_spread[k] = r->prefill.ops[k].measured;
            m.dec_spread[k] = r->decode.ops[k].measured;
            p.pre[k] = r->prefill.ops[k].predicted_ms;
            p.dec[k] = r->decode.ops[k].predicted_ms;
        }
        series.push_back(m);
        series.push_back(p);
    }
    // The whole model's roofline is seconds where the layers run take milliseconds: it gets the right axis.
    const bool whole_model = m_analysis && (!r || r->layers_run < m_analysis->config.n_layers);
    if (m_pinned)
        series.push_back({tr("pinned measured: %1").arg(m_pinned->label), pinnedColor(), m_pinned->prefill_measured_ms,
                          m_pinned->decode_measured_ms, m_pinned->prefill_ops, m_pinned->decode_ops});
    bool spread_in_legend = false;
    const double width = 0.8 / std::max<size_t>(series.size(), 1);
    for (int pi = 0; pi < 2; ++pi) {
        QCPAxisRect* rect = pi == 0 ? pre : dec;
        QCPAxis* x = rect->axis(QCPAxis::atBottom);
        QCPAxis* y = rect->axis(QCPAxis::atLeft);
        x->setTicker(opTicker());
        x->grid()->setVisible(false);
        x->setRange(-0.6, kNumOps - 0.4);
        y->setLabel(tr("ms"));
        auto* bars_group = new QCPBarsGroup(m_opPlot);
        bars_group->setSpacing(1);
        double y_max = 0.0;
        for (const Series& s : series) {
            auto* bars = new QCPBars(x, y);
            bars->setName(s.name);
            bars->setWidth(width);
            bars->setPen(QPen(s.color.darker(130)));
            bars->setBrush(s.color);
            bars->setBarsGroup(bars_group);
            QVector<double> keys, vals, minus, plus;
            bool any_spread = false;
            for (int k = 0; k < kNumOps; ++k) {
                keys.push_back(k);
                const double v = pi == 0 ? s.pre[k] : s.dec[k];
                const TimingStats& t = pi == 0 ? s.pre_spread[k] : s.dec_spread[k];
                vals.push_back(v);
                minus.push_back(t.repeats > 0 ? std::max(0.0, v - t.min_ms) : 0.0);
                plus.push_back(t.repeats > 0 ? std::max(0.0, t.max_ms - v) : 0.0);
                any_spread = any_spread || t.repeats > 0;
                y_max = std::max(y_max, v + plus.back());
            }
            bars->setData(keys, vals, true);
            if (pi == 0) bars->addToLegend(legend);
            if (any_spread) {
                QCPErrorBars* spread = addSpreadBars(bars, minus, plus);
                if (pi == 0 && !spread_in_legend) spread->addToLegend(legend);
                spread_in_legend = true;
            }
        }
        y->setRange(0, y_max > 0 ? y_max * 1.12 : 1.0);
        if (whole_model) {
            QCPAxis* y2 = rect->axis(QCPAxis::atRight);
            y2->setVisible(true);
            y2->setTickLabelFont(smallFont());
            y2->setLabel(tr("whole model, s"));
            auto* whole = new QCPGraph(x, y2);
            whole->setName(tr("roofline, whole model (%1 layers, right axis)").arg(m_analysis->config.n_layers));
            whole->setLineStyle(QCPGraph::lsNone);
            whole->setScatterStyle(
                QCPScatterStyle(QCPScatterStyle::ssDiamond, QColor(60, 60, 60), QColor(60, 60, 60), 9));
            double w_max = 0.0;
            for (int k = 0; k < kNumOps; ++k) {
                const double v = (pi == 0 ? m_analysis->prefill_pred_ms[k] : m_analysis->decode_pred_ms[k]) / 1000.0;
                whole->addData(k, v);
                w_max = std::max(w_max, v);
            }
            y2->setRange(0, w_max > 0 ? w_max * 1.12 : 1.0);
            if (pi == 0) whole->addToLegend(legend);
        }
    }
    queueReplot(m_opPlot);
}

void LatencyView::clearSweep() {
    if (m_cancelSweep->isEnabled()) return;  // a running sweep is replaced by its own signals
    m_points.clear();
    m_progress->setValue(0);
    m_sweepStatus->setText(tr("no sweep of this model yet"));
    rebuildSweep();
}

void LatencyView::onSweepStarted(int total) {
    m_points.clear();
    if (m_analysis) m_sweepConfig = m_analysis->config;
    m_progress->setRange(0, std::max(total, 1));
    m_progress->setValue(0);
    m_progress->setFormat(tr("%v / %m points"));
    m_sweep->setEnabled(false);
    m_cancelSweep->setEnabled(true);
    m_sweepStatus->setText(tr("sweeping %1 KV-head counts…").arg(total));
    rebuildSweep();
}

void LatencyView::onSweepPoint(const SweepPoint& point, int done, int total) {
    m_points.push_back(point);
    m_progress->setRange(0, std::max(total, 1));
    m_progress->setValue(done);
    m_sweepStatus->setText(
        tr("n_kv = %1: decode %2 per token").arg(point.n_kv_heads).arg(msText(point.decode_ms_per_token)));
    rebuildSweep();
}

void LatencyView::onSweepFinished() {
    m_sweep->setEnabled(true);
    m_cancelSweep->setEnabled(false);
    QString status = tr("sweep done: %1 points").arg(m_points.size());
    if (!m_ties.empty()) {
        QStringList pairs;
        for (const auto& [a, b] : m_ties) pairs << QStringLiteral("n_kv %1 ≈ %2").arg(a).arg(b);
        status +=
            tr(" — ordering within the noise (min–max spreads overlap): %1").arg(pairs.join(QStringLiteral(", ")));
    }
    m_sweepStatus->setText(status);
    m_sweepStatus->setToolTip(
        tr("Each point is the median of its repeats; the error bars span their min to max. Where two "
           "neighbours' bars overlap, this run cannot say which is faster."));
}

void LatencyView::onSweepFailed(const QString& message, bool cancelled) {
    m_sweep->setEnabled(true);
    m_cancelSweep->setEnabled(false);
    m_sweepStatus->setText(cancelled ? tr("sweep cancelled after %1 points").arg(m_points.size())
                                     : tr("sweep failed: %1").arg(message));
}

void LatencyView::rebuildSweep() {
    resetPlot(m_sweepPlot);
    const QString what = m_points.empty() ? tr("press \"Sweep\" to run every valid KV-head count")
                                          : tr("%1: %2 query heads, %3 of %4 layers run")
                                                .arg(QString::fromStdString(m_sweepConfig.name))
                                                .arg(m_sweepConfig.n_q_heads)
                                                .arg(m_points.front().layers_run)
                                                .arg(m_sweepConfig.n_layers);
    QCPAxisRect* rect = addTitledRect(m_sweepPlot, 0, 0,
                                      tr("Decode latency and KV cache against the number of KV groups — %1").arg(what));
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    QCPAxis* y = rect->axis(QCPAxis::atLeft);
    QCPAxis* y2 = rect->axis(QCPAxis::atRight);
    y2->setVisible(true);
    y2->setTickLabelFont(smallFont());
    x->setLabel(tr("KV heads n_kv (= number of groups); g = n_q / n_kv"));
    y->setLabel(tr("decode ms per token"));
    x->grid()->setVisible(false);

    const std::vector<int64_t> counts =
        m_sweepConfig.n_q_heads > 0 ? m_sweepConfig.validKvHeadCounts() : std::vector<int64_t>{};
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (size_t i = 0; i < counts.size(); ++i) {
        ModelConfig c = m_sweepConfig;
        c.n_kv_heads = counts[i];
        const QString kind = c.n_kv_heads == c.n_q_heads ? QStringLiteral(" MHA")
                             : c.n_kv_heads == 1         ? QStringLiteral(" MQA")
                                                         : QString();
        ticker->addTick(static_cast<double>(i),
                        QStringLiteral("%1\ng=%2%3").arg(counts[i]).arg(c.groupSize()).arg(kind));
    }
    x->setTicker(ticker);
    x->setRange(-0.6, std::max<double>(static_cast<double>(counts.size()), 1.0) - 0.4);
    auto index_of = [&](int64_t n_kv) {
        const auto it = std::find(counts.begin(), counts.end(), n_kv);
        return static_cast<double>(it - counts.begin());
    };

    double kv_max = 1.0;
    for (const SweepPoint& p : m_points) kv_max = std::max(kv_max, static_cast<double>(p.kv_cache_bytes));
    const ByteUnit unit = byteUnitFor(kv_max);
    y2->setLabel(tr("KV cache, whole model (%1)").arg(unit.name));

    auto* kv_bars = new QCPBars(x, y2);
    kv_bars->setName(tr("KV cache (right axis)"));
    kv_bars->setWidth(0.5);
    kv_bars->setPen(Qt::NoPen);
    kv_bars->setBrush(QColor(31, 119, 180, 70));
    auto* measured = new QCPGraph(x, y);
    measured->setName(tr("decode, measured"));
    measured->setPen(QPen(currentColor(), 2.5));
    measured->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, currentColor(), Qt::white, 8));
    auto* predicted = new QCPGraph(x, y);
    predicted->setName(tr("decode, roofline"));
    predicted->setPen(QPen(QColor(90, 90, 90), 1.5, Qt::DashLine));
    predicted->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 6));
    double y_max = 0.0;
    // In axis order (the graph keeps its data sorted by key; the error bars follow that order).
    std::vector<const SweepPoint*> sorted;
    for (const SweepPoint& p : m_points) sorted.push_back(&p);
    std::stable_sort(sorted.begin(), sorted.end(), [&](const SweepPoint* a, const SweepPoint* b) {
        return index_of(a->n_kv_heads) < index_of(b->n_kv_heads);
    });
    QVector<double> minus, plus;
    std::vector<Spread> spreads;
    for (const SweepPoint* p : sorted) {
        const double xi = index_of(p->n_kv_heads);
        kv_bars->addData(xi, static_cast<double>(p->kv_cache_bytes) / unit.bytes);
        measured->addData(xi, p->decode_ms_per_token);
        predicted->addData(xi, p->decode_pred_ms_per_token);
        // The decode phase's spread, per token like its median.
        const double per_token = p->decode.median_ms > 0 ? p->decode_ms_per_token / p->decode.median_ms : 0.0;
        const Spread sp = Spread::of(p->decode, per_token);
        spreads.push_back(sp);
        minus.push_back(sp.known ? std::max(0.0, p->decode_ms_per_token - sp.lo) : 0.0);
        plus.push_back(sp.known ? std::max(0.0, sp.hi - p->decode_ms_per_token) : 0.0);
        y_max = std::max({y_max, p->decode_ms_per_token + plus.back(), p->decode_pred_ms_per_token});
    }
    QCPErrorBars* spread_bars = sorted.empty() ? nullptr : addSpreadBars(measured, minus, plus);
    // Neighbours whose spreads overlap: their ordering is inside the noise, and the plot says so between them
    // (with head room for the marks under the legend).
    m_ties.clear();
    for (size_t i = 1; i < sorted.size(); ++i)
        if (spreads[i - 1].overlaps(spreads[i])) m_ties.emplace_back(sorted[i - 1]->n_kv_heads, sorted[i]->n_kv_heads);
    const double head_room = m_ties.empty() ? 1.3 : 1.6;
    y->setRange(0, y_max > 0 ? y_max * head_room : 1.0);
    y2->setRange(0, kv_max / unit.bytes * head_room);
    for (size_t i = 1; i < sorted.size(); ++i) {
        if (!spreads[i - 1].overlaps(spreads[i])) continue;
        const double x0 = index_of(sorted[i - 1]->n_kv_heads), x1 = index_of(sorted[i]->n_kv_heads);
        const double top = std::max(spreads[i - 1].hi, spreads[i].hi) + 0.04 * y->range().size();
        auto* bracket = new QCPItemLine(m_sweepPlot);
        bracket->setClipAxisRect(rect);
        bracket->start->setAxes(x, y);
        bracket->end->setAxes(x, y);
        bracket->start->setCoords(x0 + 0.08, top);
        bracket->end->setCoords(x1 - 0.08, top);
        bracket->setPen(QPen(QColor(200, 60, 60), 1.2, Qt::DotLine));
        auto* mark = new QCPItemText(m_sweepPlot);
        mark->setClipAxisRect(rect);
        mark->position->setAxes(x, y);
        mark->position->setCoords(0.5 * (x0 + x1), top);
        mark->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
        mark->setText(tr("≈ within noise"));
        mark->setFont(smallFont());
        mark->setColor(QColor(180, 40, 40));
    }
    // Where the live configuration sits among the sweep's points.
    if (m_analysis && m_analysis->config.n_q_heads == m_sweepConfig.n_q_heads && !counts.empty()) {
        const auto it = std::find(counts.begin(), counts.end(), m_analysis->config.n_kv_heads);
        if (it != counts.end()) {
            const double xi = static_cast<double>(it - counts.begin());
            auto* band = new QCPItemRect(m_sweepPlot);
            band->setClipAxisRect(rect);
            band->topLeft->setType(QCPItemPosition::ptPlotCoords);
            band->topLeft->setAxes(x, y);
            band->bottomRight->setAxes(x, y);
            band->topLeft->setCoords(xi - 0.45, y->range().upper);
            band->bottomRight->setCoords(xi + 0.45, y->range().lower);
            band->setPen(QPen(QColor(255, 160, 0), 1.0, Qt::DashLine));
            band->setBrush(QColor(255, 200, 0, 40));
            auto* label = new QCPItemText(m_sweepPlot);
            label->setClipAxisRect(rect);
            label->position->setAxes(x, y);
            label->position->setCoords(xi, y->range().lower + 0.04 * y->range().size());
            label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
            label->setText(tr("current"));
            label->setFont(smallFont());
            label->setColor(QColor(180, 110, 0));
        }
    }
    QCPLegend* legend = insetLegend(m_sweepPlot, rect, Qt::AlignTop | Qt::AlignHCenter);
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    measured->addToLegend(legend);
    if (spread_bars) spread_bars->addToLegend(legend);
    predicted->addToLegend(legend);
    kv_bars->addToLegend(legend);
    queueReplot(m_sweepPlot);
}

}  // namespace gqa::ui
