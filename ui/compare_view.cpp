#include "compare_view.h"

#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <functional>

#include "plot_export.h"
#include "plot_style.h"
#include "teaching_text.h"

namespace gqa::ui {

namespace {

struct Metric {
    QString name;
    std::function<double(const Snapshot&)> value;  // NaN when not available
    std::function<QString(double)> format;
    bool in_chart = false;
    QString tip;
};

Metric metric(QString name, std::function<double(const Snapshot&)> value, std::function<QString(double)> format,
              bool in_chart = false, QString tip = QString()) {
    return Metric{std::move(name), std::move(value), std::move(format), in_chart, std::move(tip)};
}

double perLayer(double v, int64_t layers) {
    return layers > 0 ? v / static_cast<double>(layers) : std::nan("");
}

std::vector<Metric> metrics() {
    auto count = [](double v) { return countText(v); };
    auto bytes = [](double v) { return bytesText(static_cast<int64_t>(v)); };
    auto ms = [](double v) { return msText(v); };
    auto flops = [](double v) { return rateText(v, "FLOP").replace(QStringLiteral("/s"), QString()); };
    const QString kv_tip = teach::kvShrinks();
    const QString flop_tip = teach::flopsDoNot();
    return {
        metric(
            QObject::tr("Query heads n_q"), [](const Snapshot& s) { return double(s.config.n_q_heads); }, count),
        metric(
            QObject::tr("KV heads n_kv"), [](const Snapshot& s) { return double(s.config.n_kv_heads); }, count),
        metric(
            QObject::tr("Group size g"), [](const Snapshot& s) { return double(s.config.groupSize()); }, count),
        metric(
            QObject::tr("Layers (model / run)"), [](const Snapshot& s) { return double(s.config.n_layers); }, count),
        metric(
            QObject::tr("head_dim"), [](const Snapshot& s) { return double(s.config.head_dim); }, count),
        metric(
            QObject::tr("Tokens (prompt + decode) × batch"),
            [](const Snapshot& s) { return double(s.shape.totalTokens() * s.shape.batch); }, count),
        metric(
            QObject::tr("K/V parameters (all layers)"),
            [](const Snapshot& s) { return double(s.config.kvParamsPerLayer()) * double(s.config.n_layers); }, count,
            true, kv_tip),
        metric(
            QObject::tr("KV cache, whole model"), [](const Snapshot& s) { return double(s.memory.kv_cache_bytes); },
            bytes, true, kv_tip),
        metric(
            QObject::tr("KV bytes per token"), [](const Snapshot& s) { return double(s.memory.kv_bytes_per_token); },
            bytes, true, kv_tip),
        metric(
            QObject::tr("Weights"), [](const Snapshot& s) { return double(s.memory.weight_bytes); }, bytes),
        metric(
            QObject::tr("Total memory, whole model"), [](const Snapshot& s) { return double(s.memory.total_bytes); },
            bytes, true),
        metric(
            QObject::tr("Longest context that fits"), [](const Snapshot& s) { return double(s.max_context_tokens); },
            [](double v) {
                // 0 tokens is not a length: it means not even the weights fit.
                return v > 0 ? countText(v) : QObject::tr("none — the weights alone exceed the device");
            },
            true),
        metric(
            QObject::tr("Score FLOPs per layer (prefill)"),
            [](const Snapshot& s) { return perLayer(s.attention_score_flops, s.layers_run); }, flops, true, flop_tip),
        metric(
            QObject::tr("Prefill per layer"), [](const Snapshot& s) { return perLayer(s.prefill_ms, s.layers_run); },
            ms, true),
        metric(
            QObject::tr("Decode per token per layer"),
            [](const Snapshot& s) { return perLayer(s.decodeMsPerToken(), s.layers_run); }, ms, true),
        metric(
            QObject::tr("Attention op, decode (all steps, per layer)"),
            [](const Snapshot& s) {
                return perLayer(s.decode_measured_ms[static_cast<int>(Op::Attention)], s.layers_run);
            },
            ms, true),
        metric(
            QObject::tr("Decode tokens/s (layers run)"), [](const Snapshot& s) { return s.decode_tokens_per_s; },
            count),
        metric(
            QObject::tr("Prefill tokens/s (layers run)"), [](const Snapshot& s) { return s.prefill_tokens_per_s; },
            count),
    };
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    m_header = new QLabel(this);
    m_header->setWordWrap(true);
    m_header->setTextFormat(Qt::RichText);
    layout->addWidget(m_header);
    auto* split = new QSplitter(Qt::Horizontal, this);
    layout->addWidget(split, 1);
    m_table = new QTableWidget(split);
    m_table->setColumnCount(4);
    m_table->setHorizontalHeaderLabels({tr("Metric"), tr("Live"), tr("Pinned"), tr("Live ÷ pinned")});
    m_table->verticalHeader()->setVisible(false);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_plot = new QCustomPlot(split);
    stylePlot(m_plot);
    split->addWidget(m_table);
    split->addWidget(m_plot);
    split->setStretchFactor(0, 5);
    split->setStretchFactor(1, 4);
    installExportMenu(m_plot, QStringLiteral("compare"));
    setData(std::nullopt, std::nullopt);
}

void CompareView::setData(const std::optional<Snapshot>& live, const std::optional<Snapshot>& pinned) {
    const auto ms = metrics();
    if (!pinned) {
        m_header->setText(
            tr("<b>Nothing pinned.</b> Press <i>Pin</i> to keep the current configuration and its "
               "result; change heads or groups and the two are compared here and overlaid in the Memory "
               "and Latency tabs."));
    } else {
        m_header->setText(
            tr("<b>Live</b> %1 &nbsp;against&nbsp; <b>pinned</b> %2. The KV cache follows n_kv (÷ g); the "
               "score FLOPs per layer follow n_q and do not change with grouping.")
                .arg(live ? live->label.toHtmlEscaped() : tr("(waiting)"), pinned->label.toHtmlEscaped()));
    }
    m_table->setRowCount(static_cast<int>(ms.size()) + 2);
    auto set = [this](int row, int col, const QString& text, const QString& tip = QString()) {
        auto* item = new QTableWidgetItem(text);
        if (col > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        if (!tip.isEmpty()) item->setToolTip(tip);
        m_table->setItem(row, col, item);
    };
    set(0, 0, tr("Model"));
    set(0, 1, live ? QString::fromStdString(live->config.name) : QString());
    set(0, 2, pinned ? QString::fromStdString(pinned->config.name) : QString());
    set(1, 0, tr("Attention"), teach::kinds());
    set(1, 1, live ? QString::fromStdString(live->config.attentionKind()) : QString());
    set(1, 2, pinned ? QString::fromStdString(pinned->config.attentionKind()) : QString());
    set(0, 3, QString());
    set(1, 3, QString());
    struct Ratio {
        QString name;
        double value;
    };
    std::vector<Ratio> ratios;
    for (size_t i = 0; i < ms.size(); ++i) {
        const Metric& m = ms[i];
        const int row = static_cast<int>(i) + 2;
        const double lv = live ? m.value(*live) : std::nan("");
        const double pv = pinned ? m.value(*pinned) : std::nan("");
        set(row, 0, m.name, m.tip);
        set(row, 1, std::isfinite(lv) ? m.format(lv) : QStringLiteral("–"), m.tip);
        set(row, 2, std::isfinite(pv) ? m.format(pv) : QStringLiteral("–"), m.tip);
        const bool ratio_ok = std::isfinite(lv) && std::isfinite(pv) && pv != 0.0;
        set(row, 3, ratio_ok ? QStringLiteral("%1×").arg(lv / pv, 0, 'g', 3) : QStringLiteral("–"), m.tip);
        if (m.in_chart && ratio_ok) ratios.push_back({m.name, lv / pv});
    }
    if (live && live->layers_run > 0)
        set(5, 1, QStringLiteral("%1 / %2").arg(live->config.n_layers).arg(live->layers_run));
    if (pinned && pinned->layers_run > 0)
        set(5, 2, QStringLiteral("%1 / %2").arg(pinned->config.n_layers).arg(pinned->layers_run));
    m_table->resizeColumnsToContents();

    // Ratios as horizontal bars around 1.
    m_plot->clearItems();
    m_plot->clearPlottables();
    m_plot->plotLayout()->clear();
    auto* rect = new QCPAxisRect(m_plot);
    auto* title = new QCPTextElement(m_plot, tr("Live ÷ pinned (1 = unchanged)"), titleFont());
    m_plot->plotLayout()->addElement(0, 0, title);
    m_plot->plotLayout()->addElement(1, 0, rect);
    m_plot->plotLayout()->setRowStretchFactor(0, 0.001);
    styleAxisRect(rect);
    QCPAxis* key = rect->axis(QCPAxis::atLeft);
    QCPAxis* val = rect->axis(QCPAxis::atBottom);
    val->setScaleType(QCPAxis::stLogarithmic);
    auto log2 = QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog);
    log2->setLogBase(2.0);
    log2->setSubTickCount(0);
    val->setTicker(log2);
    val->setNumberFormat(QStringLiteral("g"));
    val->setLabel(tr("ratio (log scale)"));
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    auto* bars = new QCPBars(key, val);
    bars->setName(tr("live ÷ pinned"));
    bars->setWidth(0.6);
    bars->setBaseValue(1.0);
    double lo = 0.5, hi = 2.0;
    for (size_t i = 0; i < ratios.size(); ++i) {
        const double k = static_cast<double>(ratios.size() - 1 - i);
        ticker->addTick(k, ratios[i].name);
        bars->addData(k, ratios[i].value - 1.0);  // QCPBars draws base .. base + value
        lo = std::min(lo, ratios[i].value);
        hi = std::max(hi, ratios[i].value);
        auto* label = new QCPItemText(m_plot);
        label->setClipAxisRect(rect);
        label->position->setAxes(val, key);
        label->position->setCoords(ratios[i].value, k);
        label->setPositionAlignment((ratios[i].value >= 1.0 ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter);
        label->setText(QStringLiteral(" %1× ").arg(ratios[i].value, 0, 'g', 3));
        label->setFont(smallFont());
    }
    bars->setPen(QPen(currentColor().darker(130)));
    bars->setBrush(currentColor());
    key->setTicker(ticker);
    key->setTickLabelFont(smallFont());
    key->grid()->setVisible(false);
    key->setRange(-0.7, std::max<double>(static_cast<double>(ratios.size()), 1.0) - 0.3);
    val->setRange(lo / 2.0, hi * 2.0);
    auto* one = new QCPItemStraightLine(m_plot);
    one->setClipAxisRect(rect);
    one->point1->setAxes(val, key);
    one->point2->setAxes(val, key);
    one->point1->setCoords(1.0, 0);
    one->point2->setCoords(1.0, 1);
    one->setPen(QPen(Qt::black, 1.0, Qt::DashLine));
    if (ratios.empty()) {
        auto* note = new QCPItemText(m_plot);
        note->setClipAxisRect(rect);
        note->position->setType(QCPItemPosition::ptAxisRectRatio);
        note->position->setAxisRect(rect);
        note->position->setCoords(0.5, 0.5);
        note->setText(tr("Pin a run to compare"));
        note->setColor(QColor(120, 120, 120));
    }
    queueReplot(m_plot);
}

}  // namespace gqa::ui
