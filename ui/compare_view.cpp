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
    std::function<Spread(const Snapshot&)> spread;  // measured values: min–max over repeats, same unit
};

// A measured metric: `m` with the interval its value spans over the repeats.
Metric timed(Metric m, std::function<Spread(const Snapshot&)> spread) {
    m.spread = std::move(spread);
    return m;
}

double perLayerScale(const Snapshot& s) {
    return s.layers_run > 0 ? 1.0 / static_cast<double>(s.layers_run) : 0.0;
}
double decodeSteps(const Snapshot& s) {
    return static_cast<double>(std::max<int64_t>(1, s.shape.decode_steps));
}

Metric metric(QString name, std::function<double(const Snapshot&)> value, std::function<QString(double)> format,
              bool in_chart = false, QString tip = QString()) {
    return Metric{std::move(name), std::move(value), std::move(format), in_chart, std::move(tip), {}};
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
        timed(metric(
                  QObject::tr("Prefill per layer"),
                  [](const Snapshot& s) { return perLayer(s.prefill_ms, s.layers_run); }, ms, true),
              [](const Snapshot& s) { return Spread::of(s.prefill_total, perLayerScale(s)); }),
        timed(metric(
                  QObject::tr("Decode per token per layer"),
                  [](const Snapshot& s) { return perLayer(s.decodeMsPerToken(), s.layers_run); }, ms, true),
              [](const Snapshot& s) { return Spread::of(s.decode_total, perLayerScale(s) / decodeSteps(s)); }),
        timed(metric(
                  QObject::tr("Attention op, decode (all steps, per layer)"),
                  [](const Snapshot& s) {
                      return perLayer(s.decode_measured_ms[static_cast<int>(Op::Attention)], s.layers_run);
                  },
                  ms, true),
              [](const Snapshot& s) {
                  return Spread::of(s.decode_ops[static_cast<int>(Op::Attention)], perLayerScale(s));
              }),
        timed(metric(
                  QObject::tr("Decode tokens/s (layers run)"), [](const Snapshot& s) { return s.decode_tokens_per_s; },
                  count),
              [](const Snapshot& s) {
                  // tokens/s = batch * steps / seconds of the phase: its interval from the phase's.
                  return Spread::rateOf(s.decode_total, 1000.0 * static_cast<double>(s.shape.batch) * decodeSteps(s));
              }),
        timed(metric(
                  QObject::tr("Prefill tokens/s (layers run)"),
                  [](const Snapshot& s) { return s.prefill_tokens_per_s; }, count),
              [](const Snapshot& s) {
                  return Spread::rateOf(s.prefill_total,
                                        1000.0 * static_cast<double>(s.shape.batch * s.shape.prompt_len));
              }),
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
        bool within_spread;  // the two measurements' min–max intervals overlap
        double lo, hi;       // the ratio's interval from the two spreads (lo = hi = value when unknown)
    };
    std::vector<Ratio> ratios;
    m_noDifference.clear();
    const QString spread_tip =
        tr("<br><i>In brackets: the min–max over the run's repeats. Where the live and "
           "pinned intervals overlap, the two cannot be told apart.</i>");
    for (size_t i = 0; i < ms.size(); ++i) {
        const Metric& m = ms[i];
        const int row = static_cast<int>(i) + 2;
        const double lv = live ? m.value(*live) : std::nan("");
        const double pv = pinned ? m.value(*pinned) : std::nan("");
        const Spread ls = m.spread && live ? m.spread(*live) : Spread{};
        const Spread ps = m.spread && pinned ? m.spread(*pinned) : Spread{};
        auto shown = [&](double v, const Spread& sp) {
            if (!std::isfinite(v)) return QStringLiteral("–");
            if (!sp.known) return m.format(v);
            return QStringLiteral("%1 (%2–%3)").arg(m.format(v), m.format(sp.lo), m.format(sp.hi));
        };
        const QString tip = m.spread ? m.tip + spread_tip : m.tip;
        set(row, 0, m.name, tip);
        set(row, 1, shown(lv, ls), tip);
        set(row, 2, shown(pv, ps), tip);
        const bool ratio_ok = std::isfinite(lv) && std::isfinite(pv) && pv != 0.0;
        const bool within = ratio_ok && ls.overlaps(ps);
        if (within) m_noDifference << m.name;
        set(row, 3,
            ratio_ok ? (within ? tr("%1× — no measurable difference").arg(lv / pv, 0, 'g', 3)
                               : QStringLiteral("%1×").arg(lv / pv, 0, 'g', 3))
                     : QStringLiteral("–"),
            within ? tr("The live and pinned min–max intervals overlap: at these repeat counts the two "
                        "measurements are not distinguishable.")
                   : tip);
        if (m.in_chart && ratio_ok) {
            const bool both = ls.known && ps.known && ps.lo > 0.0;
            ratios.push_back({m.name, lv / pv, within, both ? ls.lo / ps.hi : lv / pv, both ? ls.hi / ps.lo : lv / pv});
        }
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
        // Inside the noise: the words go right of the bar and its error bar, where the chart has room.
        const bool right = ratios[i].value >= 1.0 || ratios[i].within_spread;
        label->position->setCoords(
            ratios[i].within_spread ? std::max({ratios[i].value, ratios[i].hi, 1.0}) : ratios[i].value, k);
        label->setPositionAlignment((right ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter);
        label->setText(ratios[i].within_spread ? tr(" %1×, within spread ").arg(ratios[i].value, 0, 'g', 3)
                                               : QStringLiteral(" %1× ").arg(ratios[i].value, 0, 'g', 3));
        label->setFont(smallFont());
        if (ratios[i].within_spread) label->setColor(QColor(110, 110, 110));
    }
    bars->setPen(QPen(currentColor().darker(130)));
    bars->setBrush(currentColor());
    // Ratios inside the noise: grey bars over the blue ones, so they read as "no difference".
    auto* noise = new QCPBars(key, val);
    noise->setName(tr("within the spread"));
    noise->setWidth(0.6);
    noise->setBaseValue(1.0);
    noise->setPen(QPen(QColor(140, 140, 140)));
    noise->setBrush(QColor(200, 200, 200));
    for (size_t i = 0; i < ratios.size(); ++i)
        if (ratios[i].within_spread) noise->addData(static_cast<double>(ratios.size() - 1 - i), ratios[i].value - 1.0);
    // The measured ratios' own spread (live min–max over pinned max–min), in the bars' key order.
    QVector<double> minus, plus;
    bool any_spread = false;
    for (size_t j = 0; j < ratios.size(); ++j) {
        const Ratio& q = ratios[ratios.size() - 1 - j];
        minus.push_back(std::max(0.0, q.value - q.lo));
        plus.push_back(std::max(0.0, q.hi - q.value));
        any_spread = any_spread || q.hi > q.lo;
        lo = std::min(lo, q.lo);
        hi = std::max(hi, q.hi);
    }
    if (any_spread) addSpreadBars(bars, minus, plus);
    key->setTicker(ticker);
    key->setTickLabelFont(smallFont());
    key->grid()->setVisible(false);
    key->setRange(-0.7, std::max<double>(static_cast<double>(ratios.size()), 1.0) - 0.3);
    const bool any_within = std::any_of(ratios.begin(), ratios.end(), [](const Ratio& q) { return q.within_spread; });
    val->setRange(lo / 2.0, hi * (any_within ? 8.0 : 2.0));  // room for "within the spread" right of 1
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
