#include "head_stats_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QSignalBlocker>
#include <QStyledItemDelegate>
#include <QTableWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "plot_export.h"
#include "plot_style.h"

namespace gqa::ui {

namespace {

// Rows that open a KV group get a rule above them, so the groups read as blocks.
constexpr int kGroupStartRole = Qt::UserRole + 1;
// The statistic as held, beside the rounded text.
constexpr int kValueRole = Qt::UserRole + 2;

class GroupRuleDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
        QStyledItemDelegate::paint(painter, option, index);
        if (!index.data(kGroupStartRole).toBool()) return;
        painter->save();
        painter->setPen(QPen(QColor(40, 40, 40), 2.0));
        painter->drawLine(option.rect.topLeft() + QPoint(0, 1), option.rect.topRight() + QPoint(0, 1));
        painter->restore();
    }
};

QString statName(HeadStatsView::Stat s, const StatsOptions& o) {
    switch (s) {
        case HeadStatsView::Entropy: return HeadStatsView::tr("entropy (bits)");
        case HeadStatsView::MeanDistance: return HeadStatsView::tr("mean distance");
        case HeadStatsView::SinkMass: return HeadStatsView::tr("sink mass");
        case HeadStatsView::PrevTokenMass: return HeadStatsView::tr("previous token");
        case HeadStatsView::LocalMass: return HeadStatsView::tr("local (< %1)").arg(o.local_window);
        case HeadStatsView::LongRangeMass: return HeadStatsView::tr("long range (> %1)").arg(o.long_distance);
        case HeadStatsView::StatCount: break;
    }
    return {};
}

QString statHelp(HeadStatsView::Stat s, const StatsOptions& o) {
    switch (s) {
        case HeadStatsView::Entropy:
            return HeadStatsView::tr(
                "<b>Entropy</b> of a head's attention row, in bits: 0 when it reads a single key, "
                "log2(n) when it spreads evenly over n keys. Low = focused, high = diffuse.");
        case HeadStatsView::MeanDistance:
            return HeadStatsView::tr(
                "<b>Mean distance</b> in tokens: the expected i − j of the key the head reads. "
                "Small = it looks near the current token, large = far back.");
        case HeadStatsView::SinkMass:
            return HeadStatsView::tr(
                "<b>Sink mass</b>: the share of attention on the first token (the attention sink), "
                "where heads park the weight they do not need.");
        case HeadStatsView::PrevTokenMass:
            return HeadStatsView::tr(
                "<b>Previous-token mass</b>: the share on the token just before (i − 1). A "
                "previous-token head scores near 1.");
        case HeadStatsView::LocalMass:
            return HeadStatsView::tr("<b>Local mass</b>: the share on the last %1 tokens (i − j &lt; %1).")
                .arg(o.local_window);
        case HeadStatsView::LongRangeMass:
            return HeadStatsView::tr(
                       "<b>Long-range mass</b>: the share on keys more than %1 tokens back (i − j &gt; %1) — "
                       "what a sliding window or a poor grouping would lose.")
                .arg(o.long_distance);
        case HeadStatsView::StatCount: break;
    }
    return {};
}

QString statText(HeadStatsView::Stat s, double v) {
    switch (s) {
        case HeadStatsView::Entropy: return QString::number(v, 'f', 2);
        case HeadStatsView::MeanDistance: return QString::number(v, 'f', 1);
        default: return QString::number(v, 'f', 3);
    }
}

}  // namespace

double HeadStatsView::statValue(const RowStats& r, Stat s) {
    switch (s) {
        case Entropy: return r.entropy_bits;
        case MeanDistance: return r.mean_distance;
        case SinkMass: return r.sink_mass;
        case PrevTokenMass: return r.prev_token_mass;
        case LocalMass: return r.local_mass;
        case LongRangeMass: return r.long_range_mass;
        case StatCount: break;
    }
    return std::numeric_limits<double>::quiet_NaN();
}

HeadStatsView::HeadStatsView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* bar = new QHBoxLayout;
    layout->addLayout(bar);
    m_layer = new QComboBox(this);
    m_layer->setToolTip(tr("Which analysed decoder layer's heads to show."));
    m_layer->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    bar->addWidget(m_layer);
    m_info = new QLabel(this);
    m_info->setObjectName(QStringLiteral("headStatsInfo"));
    m_info->setWordWrap(true);
    m_info->setTextFormat(Qt::RichText);
    bar->addWidget(m_info, 1);

    m_table = new QTableWidget(this);
    m_table->setObjectName(QStringLiteral("headStatsTable"));
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    // Selection colours would hide the heat; a click only opens the head's map.
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->setFocusPolicy(Qt::NoFocus);
    m_table->setItemDelegate(new GroupRuleDelegate(m_table));
    m_table->setShowGrid(true);
    m_table->setGridStyle(Qt::SolidLine);
    m_table->setWordWrap(false);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_table->horizontalHeader()->setMinimumSectionSize(70);
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_table->verticalHeader()->setDefaultSectionSize(24);
    m_table->viewport()->setCursor(Qt::PointingHandCursor);
    layout->addWidget(m_table, 3);

    auto* bottom = new QHBoxLayout;
    layout->addLayout(bottom, 2);
    m_massPlot = new QCustomPlot(this);
    stylePlot(m_massPlot);
    m_massPlot->setMinimumSize(320, 180);
    m_massPlot->setToolTip(
        tr("The share of attention on keys more than d tokens back, averaged over the layer's query "
           "heads and rows: how far back the layer reads. The other analysed layers are drawn in "
           "grey."));
    m_massPlot->plotLayout()->insertRow(0);
    m_massPlot->plotLayout()->addElement(
        0, 0,
        new QCPTextElement(m_massPlot, tr("Attention mass beyond distance d (mean over the layer's heads)"),
                           titleFont()));
    installExportMenu(m_massPlot, QStringLiteral("mass-beyond"));
    bottom->addWidget(m_massPlot, 3);
    m_glossary = new QLabel(this);
    m_glossary->setObjectName(QStringLiteral("headStatsGlossary"));
    m_glossary->setWordWrap(true);
    m_glossary->setTextFormat(Qt::RichText);
    m_glossary->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_glossary->setMinimumWidth(300);
    bottom->addWidget(m_glossary, 2);

    connect(m_layer, &QComboBox::currentIndexChanged, this, [this] { refresh(); });
    connect(m_table, &QTableWidget::cellClicked, this, [this](int row, int column) {
        if (column > 0) activateRow(row);  // the spanning "KV k" cell names a group, not one head
    });
    connect(m_table->verticalHeader(), &QHeaderView::sectionClicked, this, [this](int row) { activateRow(row); });
    clear(tr("No analysis yet."));
}

void HeadStatsView::setAnalysis(const ModelAnalysis& analysis, const StatsOptions& options) {
    const int keep = currentLayer();
    m_analysis = analysis;
    m_options = options;
    m_have = true;
    {
        const QSignalBlocker block(m_layer);
        m_layer->clear();
        for (const LayerAnalysis& la : m_analysis.layers)
            m_layer->addItem(tr("layer %1").arg(la.layer), QVariant::fromValue<qlonglong>(la.layer));
        const int at = m_layer->findData(QVariant::fromValue<qlonglong>(keep));
        m_layer->setCurrentIndex(at >= 0 ? at : 0);
    }
    m_layer->setEnabled(m_layer->count() > 1);
    refresh();
}

int HeadStatsView::roleColumn() const {
    return m_hasRoles ? 1 + StatCount : -1;
}

QString HeadStatsView::shownRole(int row) const {
    const QTableWidgetItem* item = m_hasRoles ? m_table->item(row, roleColumn()) : nullptr;
    return item ? item->text() : QString();
}

void HeadStatsView::clear(const QString& reason) {
    m_have = false;
    m_hasRoles = false;
    m_analysis = {};
    m_rows.clear();
    {
        const QSignalBlocker block(m_layer);
        m_layer->clear();
    }
    m_layer->setEnabled(false);
    m_table->clear();
    m_table->clearSpans();
    m_table->setRowCount(0);
    m_table->setColumnCount(0);
    m_info->setText(reason.toHtmlEscaped());
    refreshMassPlot();
}

int HeadStatsView::currentLayer() const {
    if (!m_have || m_layer->currentIndex() < 0) return -1;
    return static_cast<int>(m_layer->currentData().toLongLong());
}

void HeadStatsView::setCurrentLayer(int layer) {
    const int at = m_layer->findData(QVariant::fromValue<qlonglong>(layer));
    if (at >= 0) m_layer->setCurrentIndex(at);
}

QString HeadStatsView::infoText() const {
    return m_info->text();
}

std::vector<int64_t> HeadStatsView::shownHeads() const {
    std::vector<int64_t> out;
    for (const HeadStats* h : m_rows) out.push_back(h->head);
    return out;
}

double HeadStatsView::shownValue(int row, Stat s) const {
    if (row < 0 || row >= static_cast<int>(m_rows.size())) return std::numeric_limits<double>::quiet_NaN();
    return statValue(m_rows[static_cast<size_t>(row)]->mean, s);
}

void HeadStatsView::activateRow(int row) {
    if (row < 0 || row >= static_cast<int>(m_rows.size())) return;
    emit headActivated(currentLayer(), static_cast<int>(m_rows[static_cast<size_t>(row)]->head));
}

void HeadStatsView::refresh() {
    m_rows.clear();
    m_table->clear();
    m_table->clearSpans();
    const int index = m_layer->currentIndex();
    m_hasRoles = false;
    if (!m_have || index < 0 || index >= static_cast<int>(m_analysis.layers.size())) {
        m_table->setRowCount(0);
        m_table->setColumnCount(0);
        if (m_have) m_info->setText(tr("This analysis holds no layers."));
        refreshMassPlot();
        return;
    }
    const LayerAnalysis& la = m_analysis.layers[static_cast<size_t>(index)];
    const ModelConfig& c = m_analysis.config;
    const int64_t g = std::max<int64_t>(1, c.groupSize());
    for (const HeadStats& h : la.heads) m_rows.push_back(&h);
    // Heads by KV group, then by head: the order grouping shares K/V in (head h reads KV head h / g).
    std::stable_sort(m_rows.begin(), m_rows.end(), [](const HeadStats* a, const HeadStats* b) {
        return a->kv_head != b->kv_head ? a->kv_head < b->kv_head : a->head < b->head;
    });
    const int rows = static_cast<int>(m_rows.size());
    m_hasRoles =
        std::any_of(m_rows.begin(), m_rows.end(), [](const HeadStats* h) { return h->role != HeadRole::Content; });
    m_table->setRowCount(rows);
    m_table->setColumnCount(1 + StatCount + (m_hasRoles ? 1 : 0));
    if (m_hasRoles) {
        auto* role_header = new QTableWidgetItem(tr("built as"));
        role_header->setToolTip(
            tr("What this synthetic head's weights were built to do. Read it against the statistics: a "
               "previous-token head should score near 1 in <i>previous token</i>, a sink head in <i>sink "
               "mass</i>. After a conversion to fewer KV heads, the heads of a group share one K/V head: the "
               "statistics show which roles survived the grouping."));
        m_table->setHorizontalHeaderItem(roleColumn(), role_header);
    }

    auto* kv_header = new QTableWidgetItem(tr("KV group"));
    kv_header->setToolTip(
        tr("The KV head a block of query heads shares: every query head in the block reads the "
           "same keys and values, so grouping can only keep differences their queries make."));
    m_table->setHorizontalHeaderItem(0, kv_header);
    for (int s = 0; s < StatCount; ++s) {
        auto* item = new QTableWidgetItem(statName(static_cast<Stat>(s), m_options));
        item->setToolTip(statHelp(static_cast<Stat>(s), m_options) +
                         tr("<br><i>Colour: this column's lowest value in the layer is dark, its highest bright.</i>"));
        m_table->setHorizontalHeaderItem(statColumn(static_cast<Stat>(s)), item);
    }

    // Column-normalised colours: each statistic has its own unit and range.
    std::array<double, StatCount> lo, hi;
    lo.fill(std::numeric_limits<double>::infinity());
    hi.fill(-std::numeric_limits<double>::infinity());
    for (const HeadStats* h : m_rows)
        for (int s = 0; s < StatCount; ++s) {
            const double v = statValue(h->mean, static_cast<Stat>(s));
            lo[s] = std::min(lo[s], v);
            hi[s] = std::max(hi[s], v);
        }
    QCPColorGradient gradient = attentionGradient();

    int group_begin = 0;
    for (int r = 0; r < rows; ++r) {
        const HeadStats& h = *m_rows[static_cast<size_t>(r)];
        const bool group_start = r == 0 || m_rows[static_cast<size_t>(r - 1)]->kv_head != h.kv_head;
        auto* vh = new QTableWidgetItem(tr("Q%1").arg(h.head));
        vh->setForeground(groupColor(h.kv_head).darker(115));
        vh->setToolTip(
            tr("Query head %1, reading KV head %2. Click to open its attention map.").arg(h.head).arg(h.kv_head));
        m_table->setVerticalHeaderItem(r, vh);
        if (group_start) {
            group_begin = r;
            auto* kv = new QTableWidgetItem(tr("KV %1").arg(h.kv_head));
            // Many heads scroll: the label at the group's top stays readable while the group scrolls in.
            kv->setTextAlignment(rows > 16 ? Qt::AlignHCenter | Qt::AlignTop : Qt::AlignCenter);
            kv->setBackground(groupColor(h.kv_head).lighter(175));
            kv->setForeground(groupColor(h.kv_head).darker(150));
            QFont f = kv->font();
            f.setBold(true);
            kv->setFont(f);
            kv->setData(kGroupStartRole, r > 0);
            m_table->setItem(r, 0, kv);
        }
        const bool group_end = r + 1 == rows || m_rows[static_cast<size_t>(r + 1)]->kv_head != h.kv_head;
        if (group_end) {
            if (r > group_begin) m_table->setSpan(group_begin, 0, r - group_begin + 1, 1);
            if (auto* kv = m_table->item(group_begin, 0))
                kv->setToolTip(tr("KV head %1, shared by query heads %2").arg(h.kv_head).arg([&] {
                    QStringList heads;
                    for (int k = group_begin; k <= r; ++k) heads << tr("Q%1").arg(m_rows[static_cast<size_t>(k)]->head);
                    return heads.join(QStringLiteral(", "));
                }()));
        }
        for (int s = 0; s < StatCount; ++s) {
            const Stat stat = static_cast<Stat>(s);
            const double v = statValue(h.mean, stat);
            const double span = hi[s] - lo[s];
            const double t = span > 0 ? (v - lo[s]) / span : 0.5;
            const QColor bg = QColor::fromRgb(gradient.color(t, QCPRange(0.0, 1.0)));
            auto* item = new QTableWidgetItem(statText(stat, v));
            item->setTextAlignment(Qt::AlignCenter);
            item->setBackground(bg);
            item->setForeground(qGray(bg.rgb()) > 140 ? QColor(20, 20, 20) : QColor(250, 250, 250));
            item->setData(kValueRole, v);
            item->setData(kGroupStartRole, group_start && r > 0);
            item->setToolTip(tr("<b>Q%1</b> (KV %2): %3 = <b>%4</b> — in this layer from %5 to %6.<br>%7<br>"
                                "<i>Click to open this head's attention map.</i>")
                                 .arg(h.head)
                                 .arg(h.kv_head)
                                 .arg(statName(stat, m_options), QString::number(v, 'g', 4),
                                      QString::number(lo[s], 'g', 4), QString::number(hi[s], 'g', 4),
                                      statHelp(stat, m_options)));
            m_table->setItem(r, statColumn(stat), item);
        }
        if (m_hasRoles) {
            auto* item = new QTableWidgetItem(QString::fromLatin1(headRoleName(h.role)));
            item->setTextAlignment(Qt::AlignCenter);
            item->setForeground(groupColor(h.kv_head).darker(150));
            item->setData(kGroupStartRole, group_start && r > 0);
            item->setToolTip(tr("<b>Q%1</b> was built as a <b>%2</b> head: %3<br><i>Click to open this head's "
                                "attention map.</i>")
                                 .arg(h.head)
                                 .arg(QString::fromLatin1(headRoleName(h.role)),
                                      QString::fromLatin1(headRoleDescription(h.role)).toHtmlEscaped()));
            m_table->setItem(r, roleColumn(), item);
        }
    }
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    // No taller than its rows, so a few heads leave the space to the plot below; many heads scroll.
    m_table->setMaximumHeight(m_table->horizontalHeader()->sizeHint().height() +
                              rows * m_table->verticalHeader()->defaultSectionSize() + 2 * m_table->frameWidth() + 2);

    const int64_t averaged = m_rows.empty() ? 0 : m_rows.front()->rows;
    m_info->setText(tr("<b>Layer %1</b> · %2 · %3 query heads in %4 KV group%5 of %6 · %7 prompt tokens, %8 rows "
                       "averaged per head · colour: each column from its lowest (dark) to highest (bright) value · "
                       "click a head to open its attention map")
                        .arg(la.layer)
                        .arg(QString::fromStdString(c.attentionKind()))
                        .arg(c.n_q_heads)
                        .arg(c.n_kv_heads)
                        .arg(c.n_kv_heads == 1 ? "" : "s")
                        .arg(g)
                        .arg(m_analysis.prompt_len)
                        .arg(averaged));

    QString glossary = tr("<b>The statistics</b>, per query head, averaged over the prompt's rows from position %1 on:")
                           .arg(m_options.first_row);
    glossary += QStringLiteral("<ul style='margin-left:-20px'>");
    for (int s = 0; s < StatCount; ++s)
        glossary += QStringLiteral("<li>") + statHelp(static_cast<Stat>(s), m_options) + QStringLiteral("</li>");
    if (m_hasRoles)
        glossary +=
            tr("<li><b>Built as</b>: the pattern this synthetic head's weights were made to show; its "
               "statistics say whether it still shows it.</li>");
    glossary += QStringLiteral("</ul>");
    m_glossary->setText(glossary);
    refreshMassPlot();
}

void HeadStatsView::refreshMassPlot() {
    QCustomPlot* plot = m_massPlot;
    plot->clearPlottables();
    plot->clearItems();
    QCPAxis* x = plot->xAxis;
    QCPAxis* y = plot->yAxis;
    x->setLabel(tr("distance d (tokens)"));
    y->setLabel(tr("attention beyond d"));
    if (!m_have || currentLayer() < 0 || m_analysis.distances.empty()) {
        if (!m_have) m_glossary->clear();
        queueReplot(plot);
        return;
    }
    // The distances are 0, 1, 2, 4, 8, …: evenly spaced positions, labelled with d.
    const std::vector<int64_t>& ds = m_analysis.distances;
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (size_t i = 0; i < ds.size(); ++i) ticker->addTick(static_cast<double>(i), QString::number(ds[i]));
    x->setTicker(ticker);
    x->setRange(-0.3, static_cast<double>(ds.size()) - 0.7);
    y->setRange(0.0, 1.05);
    QCPGraph* current = nullptr;
    for (const LayerAnalysis& la : m_analysis.layers) {
        QVector<double> xs, ys;
        for (size_t i = 0; i < ds.size() && i < la.mass_beyond.size(); ++i) {
            xs.push_back(static_cast<double>(i));
            ys.push_back(la.mass_beyond[i]);
        }
        auto* graph = plot->addGraph(x, y);
        graph->setData(xs, ys, true);
        if (la.layer == currentLayer()) {
            current = graph;
            graph->setName(tr("layer %1").arg(la.layer));
        } else {
            graph->setPen(QPen(QColor(200, 200, 200), 1.2));
            graph->setName(tr("other layers"));
        }
    }
    if (current) {
        current->setPen(QPen(currentColor(), 2.5));
        current->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, currentColor(), currentColor(), 6));
        current->setLayer(QStringLiteral("main"));  // above the grey ones
        plot->legend->clearItems();
        plot->legend->setVisible(true);
        plot->legend->setFont(smallFont());
        plot->legend->setBrush(QColor(255, 255, 255, 215));
        plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
        current->addToLegend();
        if (plot->graphCount() > 1)
            for (int i = 0; i < plot->graphCount(); ++i)
                if (plot->graph(i) != current) {
                    plot->graph(i)->addToLegend();
                    break;
                }
    }
    queueReplot(plot);
}

}  // namespace gqa::ui
