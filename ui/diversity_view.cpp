#include "diversity_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "plot_export.h"
#include "plot_style.h"

namespace gqa::ui {

namespace {

const LayerAnalysis* findLayer(const ModelAnalysis& a, int64_t layer) {
    for (const LayerAnalysis& la : a.layers)
        if (la.layer == layer) return &la;
    return nullptr;
}

QString meanText(const std::optional<double>& v) {
    return v ? QString::number(*v, 'f', 3) : QStringLiteral("—");
}

// "GQA, 2 KV heads (groups of 4)"
QString groupingText(const ModelConfig& c) {
    const int64_t g = std::max<int64_t>(1, c.groupSize());
    return DiversityView::tr("%1, %2 KV head%3 (%4)")
        .arg(QString::fromStdString(c.attentionKind()))
        .arg(c.n_kv_heads)
        .arg(c.n_kv_heads == 1 ? "" : "s")
        .arg(g == 1 ? DiversityView::tr("every query head its own group") : DiversityView::tr("groups of %1").arg(g));
}

QColor modelColor(int k) {
    return k == 0 ? QColor(90, 90, 90) : currentColor();
}

// Rules between KV groups of size g over an n x n matrix whose cells sit at integer coordinates.
void drawBoundaries(QCustomPlot* plot, QCPAxisRect* rect, int64_t n, int64_t g, const QPen& pen) {
    if (g <= 0 || g >= n) return;
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    QCPAxis* y = rect->axis(QCPAxis::atLeft);
    for (int64_t b = g; b < n; b += g) {
        const double at = static_cast<double>(b) - 0.5;
        for (int dir = 0; dir < 2; ++dir) {
            auto* line = new QCPItemLine(plot);
            line->setClipAxisRect(rect);
            line->start->setAxes(x, y);
            line->end->setAxes(x, y);
            if (dir == 0) {
                line->start->setCoords(at, -0.5);
                line->end->setCoords(at, static_cast<double>(n) - 0.5);
            } else {
                line->start->setCoords(-0.5, at);
                line->end->setCoords(static_cast<double>(n) - 0.5, at);
            }
            line->setPen(pen);
        }
    }
}

}  // namespace

DiversityView::DiversityView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* bar = new QHBoxLayout;
    layout->addLayout(bar);
    m_layer = new QComboBox(this);
    m_layer->setToolTip(tr("Which analysed decoder layer's heads to compare."));
    m_layer->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    bar->addWidget(m_layer);
    m_info = new QLabel(this);
    m_info->setObjectName(QStringLiteral("diversityInfo"));
    m_info->setWordWrap(true);
    m_info->setTextFormat(Qt::RichText);
    bar->addWidget(m_info, 1);

    m_matrixPlot = new QCustomPlot(this);
    stylePlot(m_matrixPlot);
    m_matrixPlot->setMinimumSize(400, 260);
    m_matrixPlot->setToolTip(
        tr("<b>Jensen–Shannon divergence</b> between the attention rows of two query heads, in bits, averaged over "
           "the prompt's rows: 0 when they attend identically, 1 when they never read the same keys. Black rules "
           "separate KV groups; the blocks on the diagonal are the pairs that share a KV head."));
    layout->addWidget(m_matrixPlot, 3);
    installExportMenu(m_matrixPlot, QStringLiteral("diversity"));

    m_hover = new QLabel(tr("Hover a map to read a pair of heads and their divergence."), this);
    m_hover->setObjectName(QStringLiteral("diversityHover"));
    layout->addWidget(m_hover);

    auto* bottom = new QHBoxLayout;
    layout->addLayout(bottom, 2);
    m_meansPlot = new QCustomPlot(this);
    stylePlot(m_meansPlot);
    m_meansPlot->setMinimumSize(320, 170);
    m_meansPlot->setToolTip(
        tr("Each layer's mean divergence over the pairs of heads inside one KV group (solid) and "
           "over the pairs in different groups (dashed), for both models."));
    bottom->addWidget(m_meansPlot, 3);
    installExportMenu(m_meansPlot, QStringLiteral("diversity-means"));
    m_means = new QLabel(this);
    m_means->setObjectName(QStringLiteral("diversityMeans"));
    m_means->setWordWrap(true);
    m_means->setTextFormat(Qt::RichText);
    m_means->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_means->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_means->setMinimumWidth(300);
    bottom->addWidget(m_means, 2);

    connect(m_layer, &QComboBox::currentIndexChanged, this, [this] {
        rebuild();
        rebuildMeans();
    });
    connect(m_matrixPlot, &QCustomPlot::mouseMove, this, &DiversityView::onMouseMove);
    clear(tr("No analysis yet."));
}

void DiversityView::setAnalyses(const ModelAnalysis& original, const ModelAnalysis& converted, const QString& method) {
    const int keep = currentLayer();
    m_models[0] = original;
    m_models[1] = converted;
    m_method = method;
    m_have = true;
    {
        const QSignalBlocker block(m_layer);
        m_layer->clear();
        for (const LayerAnalysis& la : m_models[0].layers)
            m_layer->addItem(tr("layer %1").arg(la.layer), QVariant::fromValue<qlonglong>(la.layer));
        const int at = m_layer->findData(QVariant::fromValue<qlonglong>(keep));
        m_layer->setCurrentIndex(at >= 0 ? at : 0);
    }
    m_layer->setEnabled(m_layer->count() > 1);
    rebuild();
    rebuildMeans();
}

void DiversityView::clear(const QString& reason) {
    m_have = false;
    m_models[0] = {};
    m_models[1] = {};
    {
        const QSignalBlocker block(m_layer);
        m_layer->clear();
    }
    m_layer->setEnabled(false);
    m_info->setText(reason.toHtmlEscaped());
    m_means->clear();
    rebuild();
    rebuildMeans();
}

int DiversityView::currentLayer() const {
    if (!m_have || m_layer->currentIndex() < 0) return -1;
    return static_cast<int>(m_layer->currentData().toLongLong());
}

void DiversityView::setCurrentLayer(int layer) {
    const int at = m_layer->findData(QVariant::fromValue<qlonglong>(layer));
    if (at >= 0) m_layer->setCurrentIndex(at);
}

QString DiversityView::meansText() const {
    return m_means->text();
}
QString DiversityView::infoText() const {
    return m_info->text();
}
QString DiversityView::hoverText() const {
    return m_hover->text();
}

void DiversityView::rebuild() {
    QCustomPlot* plot = m_matrixPlot;
    plot->clearItems();
    plot->clearPlottables();
    plot->plotLayout()->clear();
    m_maps[0] = m_maps[1] = nullptr;
    m_scale = nullptr;
    if (!m_have || currentLayer() < 0) {
        queueReplot(plot);
        return;
    }
    const int64_t layer = currentLayer();
    const LayerAnalysis* la[2] = {findLayer(m_models[0], layer), findLayer(m_models[1], layer)};

    // One colour scale for both maps, up to the larger divergence of the two.
    double z_max = 0.0;
    for (const LayerAnalysis* l : la)
        if (l)
            for (double v : l->diversity.js_bits) z_max = std::max(z_max, v);
    if (!(z_max > 0.0)) z_max = 1e-3;

    m_scale = new QCPColorScale(plot);
    m_scale->setType(QCPAxis::atRight);
    m_scale->setGradient(attentionGradient());
    m_scale->setBarWidth(12);
    m_scale->setMinimumSize(QSize(80, 60));
    m_scale->axis()->setLabel(tr("JS divergence (bits)"));
    m_scale->axis()->setTickLabelFont(smallFont());
    m_scale->setDataRange(QCPRange(0.0, z_max));
    auto* margins = new QCPMarginGroup(plot);

    for (int k = 0; k < 2; ++k) {
        const ModelConfig& c = m_models[k].config;
        QString title =
            k == 0 ? tr("original: %1").arg(groupingText(c)) : tr("converted (%1): %2").arg(m_method, groupingText(c));
        if (!la[k]) title += tr(" — layer %1 not analysed").arg(layer);
        auto* text = new QCPTextElement(plot, title, titleFont());
        text->setTextColor(modelColor(k).darker(k == 0 ? 100 : 120));
        plot->plotLayout()->addElement(0, k, text);
        auto* rect = new QCPAxisRect(plot);
        plot->plotLayout()->addElement(1, k, rect);
        rect->setupFullAxesBox(true);
        styleAxisRect(rect);
        rect->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
        QCPAxis* x = rect->axis(QCPAxis::atBottom);
        QCPAxis* y = rect->axis(QCPAxis::atLeft);
        for (QCPAxis* axis : rect->axes()) {
            axis->grid()->setVisible(false);
            axis->setSubTicks(false);
        }
        rect->axis(QCPAxis::atTop)->setTickLabels(false);
        rect->axis(QCPAxis::atRight)->setTickLabels(false);
        y->setRangeReversed(true);  // head 0 at the top, like a matrix
        if (!la[k]) continue;
        const GroupDiversity& d = la[k]->diversity;
        const int64_t n = d.n();
        const int64_t g = std::max<int64_t>(1, c.groupSize());
        // Every head named while the labels fit; otherwise one label per KV group at its centre, or (many small
        // groups) every k-th head.
        auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
        const int64_t groups = (n + g - 1) / g;
        if (n <= 16) {
            for (int64_t i = 0; i < n; ++i)
                ticker->addTick(static_cast<double>(i), tr("Q%1").arg(d.heads[static_cast<size_t>(i)]));
        } else if (groups <= 16) {
            for (int64_t b = 0; b < n; b += g)
                ticker->addTick(static_cast<double>(b) + static_cast<double>(std::min(g, n - b) - 1) / 2.0,
                                tr("KV %1").arg(d.kv_head[static_cast<size_t>(b)]));
        } else {
            const int64_t step = (n + 15) / 16;
            for (int64_t i = 0; i < n; i += step)
                ticker->addTick(static_cast<double>(i), tr("Q%1").arg(d.heads[static_cast<size_t>(i)]));
        }
        for (QCPAxis* axis : {x, y, rect->axis(QCPAxis::atTop), rect->axis(QCPAxis::atRight)}) {
            axis->setTicker(ticker);
            axis->setRange(-0.5, static_cast<double>(n) - 0.5);
        }
        x->setLabel(tr("query head (by KV group)"));
        if (k == 0) y->setLabel(tr("query head"));

        auto* map = new QCPColorMap(x, y);
        map->setName(k == 0 ? tr("original") : tr("converted"));
        map->setInterpolate(false);
        map->setTightBoundary(false);
        map->data()->setSize(static_cast<int>(n), static_cast<int>(n));
        map->data()->setRange(QCPRange(0, static_cast<double>(std::max<int64_t>(n - 1, 1))),
                              QCPRange(0, static_cast<double>(std::max<int64_t>(n - 1, 1))));
        for (int64_t a = 0; a < n; ++a)
            for (int64_t b = 0; b < n; ++b) map->data()->setCell(static_cast<int>(b), static_cast<int>(a), d.at(a, b));
        map->setColorScale(m_scale);
        map->setGradient(attentionGradient());
        map->setDataRange(QCPRange(0.0, z_max));
        m_maps[k] = map;
        const QPen rule(QColor(255, 255, 255), 2.5);
        if (g > 1) drawBoundaries(plot, rect, n, g, rule);
        // On the original, where the conversion will merge heads: the converted model's groups, dashed.
        if (k == 0) {
            const int64_t g_conv = std::max<int64_t>(1, m_models[1].config.groupSize());
            if (g_conv > g && g_conv % g == 0)
                drawBoundaries(plot, rect, n, g_conv, QPen(QColor(255, 80, 80), 2.0, Qt::DashLine));
        }
    }
    m_scale->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
    plot->plotLayout()->addElement(1, 2, m_scale);
    plot->plotLayout()->setRowStretchFactor(0, 0.001);
    plot->plotLayout()->setColumnStretchFactor(2, 0.01);

    const ModelConfig& c0 = m_models[0].config;
    const ModelConfig& c1 = m_models[1].config;
    QString info =
        tr("<b>Layer %1</b> · %2 query heads · %3 prompt tokens · one colour scale for both maps (0 to %4 bits)")
            .arg(layer)
            .arg(c0.n_q_heads)
            .arg(m_models[0].prompt_len)
            .arg(QString::number(z_max, 'f', 3));
    if (c1.groupSize() > std::max<int64_t>(1, c0.groupSize()))
        info += tr(" · <span style='color:#d04040'>dashed</span> on the original: the groups the conversion to %1 KV "
                   "heads merges")
                    .arg(c1.n_kv_heads);
    m_info->setText(info);
    queueReplot(plot);
}

void DiversityView::rebuildMeans() {
    QCustomPlot* plot = m_meansPlot;
    plot->clearItems();
    plot->clearPlottables();
    if (plot->legend) plot->legend->clearItems();
    QCPAxisRect* rect = plot->axisRect();
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    QCPAxis* y = rect->axis(QCPAxis::atLeft);
    x->setLabel(tr("layer"));
    y->setLabel(tr("mean JS divergence (bits)"));
    if (!m_have || currentLayer() < 0) {
        m_means->setText(QString());
        queueReplot(plot);
        return;
    }

    // ---- over the layers -----------------------------------------------------------------------
    double y_max = 0.0, x_min = 0.0, x_max = 0.0;
    bool first = true;
    for (int k = 0; k < 2; ++k) {
        for (int within = 1; within >= 0; --within) {
            QVector<double> xs, ys;
            for (const LayerAnalysis& la : m_models[k].layers) {
                const std::optional<double>& v =
                    within ? la.diversity.mean_within_bits : la.diversity.mean_between_bits;
                const double l = static_cast<double>(la.layer);
                x_min = first ? l : std::min(x_min, l);
                x_max = first ? l : std::max(x_max, l);
                first = false;
                if (!v) continue;  // no such pairs in this grouping: no point, not a zero
                xs.push_back(l);
                ys.push_back(*v);
                y_max = std::max(y_max, *v);
            }
            if (xs.isEmpty()) continue;
            auto* graph = plot->addGraph(x, y);
            graph->setName(tr("%1, %2").arg(k == 0 ? tr("original") : tr("converted"),
                                            within ? tr("within groups") : tr("between groups")));
            graph->setPen(QPen(modelColor(k), 2.0, within ? Qt::SolidLine : Qt::DashLine));
            graph->setScatterStyle(QCPScatterStyle(within ? QCPScatterStyle::ssDisc : QCPScatterStyle::ssSquare,
                                                   modelColor(k), modelColor(k), 7));
            graph->setData(xs, ys, true);
        }
    }
    x->setRange(x_min - 0.5, x_max + 0.5);
    auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    ticker->setTickStep(std::max(1.0, std::ceil((x_max - x_min + 1.0) / 12.0)));
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssNone);
    x->setTicker(ticker);
    y->setRange(0.0, y_max > 0 ? y_max * 1.35 : 1.0);
    auto* mark = new QCPItemStraightLine(plot);
    mark->point1->setCoords(currentLayer(), 0);
    mark->point2->setCoords(currentLayer(), 1);
    mark->setPen(QPen(QColor(200, 200, 200), 6.0));
    mark->setLayer(QStringLiteral("background"));
    if (!plot->legend) plot->legend = new QCPLegend;
    plot->legend->setVisible(true);
    plot->legend->setFont(smallFont());
    plot->legend->setBrush(QColor(255, 255, 255, 215));
    rect->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    for (int i = 0; i < plot->graphCount(); ++i) plot->graph(i)->addToLegend();

    // ---- the shown layer, in numbers -----------------------------------------------------------
    const int64_t layer = currentLayer();
    QStringList notes;
    QString rows;
    for (int k = 0; k < 2; ++k) {
        const ModelConfig& c = m_models[k].config;
        const LayerAnalysis* la = findLayer(m_models[k], layer);
        const QString name = k == 0 ? tr("original") : tr("converted (%1)").arg(m_method.toHtmlEscaped());
        if (!la) {
            rows += tr("<tr><td>%1</td><td colspan='2'>layer not analysed</td></tr>").arg(name);
            continue;
        }
        const GroupDiversity& d = la->diversity;
        rows += tr("<tr><td style='color:%1'><b>%2</b><br><small>%3</small></td><td align='center'>%4</td>"
                   "<td align='center'>%5</td></tr>")
                    .arg(modelColor(k).name(), name, groupingText(c).toHtmlEscaped(), meanText(d.mean_within_bits),
                         meanText(d.mean_between_bits));
        if (!d.mean_within_bits)
            notes << tr("— within, %1: each KV group holds a single query head (g = 1), so no pair of heads shares a "
                        "KV head.")
                         .arg(name);
        if (!d.mean_between_bits)
            notes << tr("— between, %1: all query heads share one KV head (MQA), so there is no pair in different "
                        "groups.")
                         .arg(name);
    }
    QString text = tr("<b>Layer %1</b>, mean JS divergence in bits over pairs of query heads:"
                      "<table cellspacing='0' cellpadding='3'><tr><th></th><th>within groups</th>"
                      "<th>between groups</th></tr>%2</table>")
                       .arg(layer)
                       .arg(rows);
    if (!notes.isEmpty())
        text += QStringLiteral("<small>") + notes.join(QStringLiteral("<br>")) + QStringLiteral("</small>");
    text +=
        tr("<br><small><i>Low within and high between: the heads that share a KV head already attended alike, "
           "so little is lost by sharing.</i></small>");
    m_means->setText(text);
    queueReplot(plot);
}

void DiversityView::onMouseMove(QMouseEvent* event) {
    const QPointF pos = event->position();
    for (int k = 0; k < 2; ++k) {
        QCPColorMap* map = m_maps[k];
        if (!map || !map->keyAxis()->axisRect()->rect().contains(pos.toPoint())) continue;
        const LayerAnalysis* la = findLayer(m_models[k], currentLayer());
        if (!la) return;
        const GroupDiversity& d = la->diversity;
        const auto a = static_cast<int64_t>(std::lround(map->valueAxis()->pixelToCoord(pos.y())));
        const auto b = static_cast<int64_t>(std::lround(map->keyAxis()->pixelToCoord(pos.x())));
        if (a < 0 || b < 0 || a >= d.n() || b >= d.n()) return;
        const int64_t ha = d.heads[static_cast<size_t>(a)], hb = d.heads[static_cast<size_t>(b)];
        const bool same = d.kv_head[static_cast<size_t>(a)] == d.kv_head[static_cast<size_t>(b)];
        m_hover->setText(tr("%1: Q%2 (KV %3) × Q%4 (KV %5): %6 bits — %7")
                             .arg(k == 0 ? tr("original") : tr("converted"))
                             .arg(ha)
                             .arg(d.kv_head[static_cast<size_t>(a)])
                             .arg(hb)
                             .arg(d.kv_head[static_cast<size_t>(b)])
                             .arg(QString::number(d.at(a, b), 'f', 4))
                             .arg(ha == hb ? tr("the same head")
                                  : same   ? tr("same KV group")
                                           : tr("different KV groups")));
        return;
    }
}

}  // namespace gqa::ui
