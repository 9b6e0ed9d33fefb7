#include "attention_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QTableWidget>
#include <QTextStream>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>

#include "color_map_convert.h"
#include "plot_export.h"
#include "plot_style.h"
#include "teaching_text.h"

namespace gqa::ui {

namespace {

constexpr const char* kHoverHintText = "Hover a map to read query position, key position and weight.";

// Columns of the head grid: close to a 3:2 screen, and a multiple of the group size when that keeps
// every KV group on one row.
int gridColumns(int n, int64_t g) {
    int ideal = std::max(1, static_cast<int>(std::ceil(std::sqrt(n * 1.6))));
    int cols = ideal;
    // A group on one row only while that row stays near the ideal width (MQA's one group of n would make a
    // single row of tall, narrow cells whose tick labels collide).
    if (g > 1 && g <= ideal + ideal / 2)
        cols = static_cast<int>(
            g * std::max<int64_t>(1, std::llround(static_cast<double>(ideal) / static_cast<double>(g))));
    return std::clamp(cols, 1, n);
}

}  // namespace

AttentionView::AttentionView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* bar = new QHBoxLayout;
    layout->addLayout(bar);

    m_layer = new QSpinBox(this);
    m_layer->setRange(0, 0);
    m_layer->setPrefix(tr("layer "));
    m_layer->setToolTip(tr("Which decoder layer's attention to show."));
    bar->addWidget(m_layer);

    m_mode = new QComboBox(this);
    m_mode->addItems({tr("All query heads"), tr("One head (zoom & pan)")});
    m_mode->setToolTip(
        tr("A grid of every query head, framed in the colour of the KV group it reads, or one head "
           "large: drag to pan, wheel to zoom."));
    bar->addWidget(m_mode);

    m_head = new QSpinBox(this);
    m_head->setPrefix(tr("head Q"));
    m_head->setRange(0, 0);
    bar->addWidget(m_head);

    m_sequence = new QSpinBox(this);
    m_sequence->setPrefix(tr("sequence "));
    m_sequence->setRange(0, 0);
    m_sequence->setToolTip(tr("Which prompt of the batch."));
    bar->addWidget(m_sequence);

    m_scale = new QComboBox(this);
    m_scale->addItems({tr("Linear scale"), tr("Log scale")});
    m_scale->setToolTip(tr("Log scale reveals the small weights that softmax leaves on every visible key."));
    bar->addWidget(m_scale);

    m_contrast = new QComboBox(this);
    m_contrast->addItems({tr("Shared colour scale"), tr("Per-head contrast")});
    m_contrast->setToolTip(
        tr("Per-head contrast scales each map to its own largest weight, so a long prompt's flat "
           "maps still show where each head looks; the shared scale compares heads."));
    bar->addWidget(m_contrast);

    m_phase = new QComboBox(this);
    m_phase->addItems({tr("Prompt (prefill)"), tr("Decode steps")});
    m_phase->setToolTip(
        tr("Prefill: every prompt token attends to the ones before it (a T × T triangle). Decode: "
           "each new token adds one row that reads the whole KV cache."));
    bar->addWidget(m_phase);

    m_step = new QSlider(Qt::Horizontal, this);
    m_step->setRange(0, 0);
    m_step->setMinimumWidth(140);
    m_step->setToolTip(tr("Decode step: the rows up to this step are shown, the current one outlined."));
    bar->addWidget(m_step, 1);
    m_stepLabel = new QLabel(this);
    m_stepLabel->setMinimumWidth(90);
    bar->addWidget(m_stepLabel);

    m_resetZoom = new QPushButton(tr("Reset zoom"), this);
    bar->addWidget(m_resetZoom);

    m_info = new QLabel(this);
    m_info->setWordWrap(true);
    m_info->setTextFormat(Qt::RichText);
    layout->addWidget(m_info);

    m_plot = new QCustomPlot(this);
    stylePlot(m_plot);
    m_plot->setMinimumSize(400, 300);
    m_plot->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    m_plot->setToolTip(QString());
    layout->addWidget(m_plot, 1);
    installExportMenu(m_plot, QStringLiteral("attention"));

    m_hover = new QLabel(tr(kHoverHintText), this);
    m_hover->setObjectName(QStringLiteral("hoverLabel"));
    layout->addWidget(m_hover);

    // The selected query's most attended tokens, one row per head, by KV group.
    auto* query_bar = new QHBoxLayout;
    layout->addLayout(query_bar);
    m_query = new QSpinBox(this);
    m_query->setRange(-1, 0);
    m_query->setValue(-1);
    m_query->setSpecialValueText(tr("query: last token"));
    m_query->setPrefix(tr("query "));
    m_query->setToolTip(
        tr("The query position whose most attended tokens are listed below; a click on a map "
           "selects its row."));
    query_bar->addWidget(m_query);
    query_bar->addWidget(new QLabel(tr("top attended tokens of this query, per head (heads of one KV group read "
                                       "the same keys and values)"),
                                    this),
                         1);
    m_topKeys = new QTableWidget(this);
    m_topKeys->setObjectName(QStringLiteral("topKeysTable"));
    m_topKeys->setColumnCount(5);
    m_topKeys->setHorizontalHeaderLabels({tr("head"), tr("KV head"), tr("1st"), tr("2nd"), tr("3rd")});
    m_topKeys->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_topKeys->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_topKeys->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    m_topKeys->verticalHeader()->hide();
    m_topKeys->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_topKeys->setMaximumHeight(150);
    layout->addWidget(m_topKeys);
    connect(m_query, &QSpinBox::valueChanged, this, [this] { fillTopKeys(); });

    auto changed = [this] {
        updateControls();
        refresh();
        emit viewStateChanged();
    };
    connect(m_layer, &QSpinBox::valueChanged, this, changed);
    connect(m_mode, &QComboBox::currentIndexChanged, this, changed);
    connect(m_head, &QSpinBox::valueChanged, this, changed);
    connect(m_sequence, &QSpinBox::valueChanged, this, changed);
    connect(m_scale, &QComboBox::currentIndexChanged, this, changed);
    connect(m_phase, &QComboBox::currentIndexChanged, this, changed);
    connect(m_contrast, &QComboBox::currentIndexChanged, this, changed);
    connect(m_step, &QSlider::valueChanged, this, changed);
    connect(m_resetZoom, &QPushButton::clicked, this, [this] {
        m_layoutKey.clear();
        refresh();
    });
    connect(m_plot, &QCustomPlot::mouseMove, this, &AttentionView::onMouseMove);
    connect(m_plot, &QCustomPlot::mousePress, this, &AttentionView::onMousePress);
    setCsvProvider(m_plot, [this] { return mapsCsv(); });
    m_resizeRefresh = new QTimer(this);
    m_resizeRefresh->setSingleShot(true);
    m_resizeRefresh->setInterval(80);
    connect(m_resizeRefresh, &QTimer::timeout, this, [this] { refresh(); });
    connect(m_plot, &QCustomPlot::afterLayout, this, &AttentionView::keepSquare);
    updateControls();
    refresh();
}

QList<QCustomPlot*> AttentionView::plots() const {
    return {m_plot};
}

void AttentionView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (m_result && m_cells.size() > 1) m_resizeRefresh->start();
}

int AttentionView::layer() const {
    return m_layer->value();
}
AttentionView::Mode AttentionView::mode() const {
    return static_cast<Mode>(m_mode->currentIndex());
}
int AttentionView::head() const {
    return m_head->value();
}
bool AttentionView::logScale() const {
    return m_scale->currentIndex() == 1;
}
bool AttentionView::decodePhase() const {
    return m_phase->currentIndex() == 1;
}
int AttentionView::decodeStep() const {
    return m_step->value();
}

void AttentionView::setViewState(int layer, Mode mode, int head, bool log_scale, bool decode_phase, int step) {
    {
        const QSignalBlocker b1(m_layer), b2(m_mode), b3(m_head), b4(m_scale), b5(m_phase), b6(m_step);
        m_layer->setMaximum(std::max(m_layer->maximum(), layer));
        m_layer->setValue(layer);
        m_mode->setCurrentIndex(static_cast<int>(mode));
        m_head->setMaximum(std::max(m_head->maximum(), head));
        m_head->setValue(head);
        m_scale->setCurrentIndex(log_scale ? 1 : 0);
        m_phase->setCurrentIndex(decode_phase ? 1 : 0);
        m_step->setMaximum(std::max(m_step->maximum(), step));
        m_step->setValue(step);
    }
    updateControls();
    refresh();
}

bool AttentionView::perHeadContrast() const {
    return m_contrast->currentIndex() == 1;
}
void AttentionView::setPerHeadContrast(bool on) {
    m_contrast->setCurrentIndex(on ? 1 : 0);
}
QString AttentionView::infoText() const {
    return m_info->text();
}
QString AttentionView::hoverLabelText() const {
    return m_hover->text();
}

namespace {
const char* const kHoverHint = kHoverHintText;
}

void AttentionView::showComputing(const QString& model_name) {
    m_result.reset();
    m_layoutKey.clear();
    m_plot->clearItems();
    m_plot->clearPlottables();
    m_plot->plotLayout()->clear();
    m_cells.clear();
    m_colorScale = nullptr;
    m_hover->setText(tr(kHoverHint));
    m_topKeys->setRowCount(0);
    m_info->setText(tr("Computing <b>%1</b>…").arg(model_name.toHtmlEscaped()));
    queueReplot(m_plot);
}

void AttentionView::setTokenPieces(const QStringList& pieces) {
    m_pieces = pieces;
    m_layoutKey.clear();
    refresh();
}

QString AttentionView::pieceAt(int64_t pos) const {
    if (pos >= 0 && pos < m_pieces.size())
        return QStringLiteral("'%1' (%2)").arg(m_pieces[static_cast<int>(pos)]).arg(pos);
    return QString::number(pos);
}

void AttentionView::setResult(const RunResultPtr& result) {
    // The last hover described positions of the previous result, which may no longer exist.
    if (!m_result || !result || m_result->shape.prompt_len != result->shape.prompt_len ||
        m_result->shape.decode_steps != result->shape.decode_steps ||
        m_result->config.n_q_heads != result->config.n_q_heads)
        m_hover->setText(tr(kHoverHint));
    m_result = result;
    m_requestedLayer = -1;
    {
        const QSignalBlocker b1(m_layer), b2(m_head), b3(m_step), b4(m_sequence);
        if (result) {
            m_layer->setMaximum(static_cast<int>(std::max<int64_t>(result->layers_run - 1, 0)));
            m_head->setMaximum(static_cast<int>(std::max<int64_t>(result->config.n_q_heads - 1, 0)));
            m_step->setMaximum(static_cast<int>(std::max<int64_t>(result->shape.decode_steps - 1, 0)));
            m_sequence->setMaximum(static_cast<int>(std::max<int64_t>(result->shape.batch - 1, 0)));
        }
    }
    updateControls();
    refresh();
}

void AttentionView::updateControls() {
    const bool single = mode() == Mode::SingleHead;
    m_head->setEnabled(single);
    m_resetZoom->setEnabled(single);
    const bool has_decode = m_result && m_result->shape.decode_steps > 0;
    m_phase->setEnabled(has_decode);
    if (!has_decode && decodePhase()) {
        const QSignalBlocker b(m_phase);
        m_phase->setCurrentIndex(0);
    }
    m_step->setEnabled(decodePhase());
    m_stepLabel->setText(decodePhase() && m_result
                             ? tr("step %1 / %2").arg(decodeStep()).arg(m_result->shape.decode_steps - 1)
                             : QString());
    m_sequence->setVisible(m_result && m_result->shape.batch > 1);
}

QString AttentionView::roleOf(int64_t q_head) const {
    if (!m_result) return {};
    const auto l = static_cast<size_t>(layer());
    if (l >= m_result->head_roles.size() || static_cast<size_t>(q_head) >= m_result->head_roles[l].size()) return {};
    return QString::fromLatin1(headRoleName(m_result->head_roles[l][static_cast<size_t>(q_head)]));
}

void AttentionView::refresh() {
    ++m_refreshes;
    if (!m_result) {
        m_info->setText(tr("Waiting for the first run…"));
        m_topKeys->setRowCount(0);
        return;
    }
    const RunResult& r = *m_result;
    const int64_t g = std::max<int64_t>(1, r.config.groupSize());
    const LayerMaps* prompt = findLayerMaps(r.prompt_maps, layer());
    std::vector<const LayerMaps*> steps;
    for (const auto& step_maps : r.decode_maps) steps.push_back(findLayerMaps(step_maps, layer()));
    const bool have_decode = !steps.empty() && steps.front() != nullptr;
    if (!prompt && !(decodePhase() && have_decode)) {
        m_topKeys->setRowCount(0);
        if (r.prompt_maps.empty() && r.decode_maps.empty()) {
            m_info->setText(m_mapsNote.isEmpty() ? tr("This run kept no attention maps.") : m_mapsNote.toHtmlEscaped());
        } else if (m_requestedLayer != layer()) {
            m_requestedLayer = layer();
            m_info->setText(tr("Maps of layer %1 were not kept by this run; asking the engine for them…").arg(layer()));
            emit mapsRequested(layer());
        }
        return;
    }

    std::vector<int64_t> heads;
    const bool single = mode() == Mode::SingleHead;
    if (single) {
        heads.push_back(std::clamp<int64_t>(head(), 0, r.config.n_q_heads - 1));
    } else {
        const LayerMaps* ref = prompt ? prompt : steps.front();
        heads = ref->heads;
    }
    rebuildLayout(heads, g, single);
    fillCells(prompt, steps, g);
    m_shownKv = r.config.n_kv_heads;

    QString info = tr("<b>Layer %1</b> of %2 run · %3 · %4 query heads in %5 KV group%6")
                       .arg(layer())
                       .arg(r.layers_run)
                       .arg(QString::fromStdString(r.config.attentionKind()))
                       .arg(r.config.n_q_heads)
                       .arg(r.config.n_kv_heads)
                       .arg(r.config.n_kv_heads == 1 ? "" : "s");
    if (single && !heads.empty()) {
        const auto l = static_cast<size_t>(layer());
        if (l < r.head_roles.size() && static_cast<size_t>(heads[0]) < r.head_roles[l].size())
            info += QStringLiteral(" — <i>%1</i>")
                        .arg(QString::fromLatin1(headRoleDescription(r.head_roles[l][static_cast<size_t>(heads[0])]))
                                 .toHtmlEscaped());
    } else {
        info += tr(" · frames share a colour when the heads read the same K/V");
        // A grid cell has far fewer pixels than a long prompt has tokens: say that the picture is sampled.
        const int64_t n_pos = decodePhase() ? r.shape.totalTokens() : r.shape.prompt_len;
        const int cols = gridColumns(static_cast<int>(heads.size()), g);
        const int cell_px = std::max(1, m_plot->width() / std::max(cols, 1) - 8);
        if (n_pos > cell_px)
            info += tr("<br><i>Downsampled: each map of %1 × %1 tokens is drawn in about %2 px (%3 tokens per pixel); "
                       "per-head contrast, one head (zoom) or the CSV export show every weight.</i>")
                        .arg(n_pos)
                        .arg(cell_px)
                        .arg(QString::number(static_cast<double>(n_pos) / cell_px, 'f', 1));
    }
    if (perHeadContrast()) info += tr(" · <b>per-head contrast</b>: each map scaled to its own largest weight");
    m_info->setText(info);
    fillTopKeys();
    queueReplot(m_plot);
}

void AttentionView::rebuildLayout(const std::vector<int64_t>& heads, int64_t g, bool single) {
    const int n = static_cast<int>(heads.size());
    const int cols = single ? 1 : gridColumns(n, g);
    QString key = QStringLiteral("%1/%2/%3/%4/%5").arg(single).arg(n).arg(cols).arg(g).arg(decodePhase());
    for (int64_t h : heads) key += QLatin1Char(',') + QString::number(h);
    if (key == m_layoutKey) return;
    m_layoutKey = key;

    m_plot->clearItems();
    m_plot->clearPlottables();
    m_plot->plotLayout()->clear();
    m_cells.clear();
    auto* grid = new QCPLayoutGrid;
    m_plot->plotLayout()->addElement(0, 0, grid);
    grid->setRowSpacing(2);
    grid->setColumnSpacing(4);
    m_colorScale = new QCPColorScale(m_plot);
    m_plot->plotLayout()->addElement(0, 1, m_colorScale);
    m_plot->plotLayout()->setColumnStretchFactor(1, 0.01);
    m_colorScale->setType(QCPAxis::atRight);
    m_colorScale->setGradient(attentionGradient());
    m_colorScale->setBarWidth(12);
    // The grid would squeeze the bar to nothing (its stretch is tiny); keep room for the gradient and ticks.
    m_colorScale->setMinimumSize(QSize(72, 60));
    m_colorScale->axis()->setLabel(tr("attention weight"));
    m_colorScale->axis()->setTickLabelFont(smallFont());

    const bool ticks = single || n <= 16;
    QFont title_font = smallFont();
    title_font.setBold(true);
    if (single) title_font = titleFont();
    if (n > 32) title_font.setPointSizeF(6.5);
    for (int i = 0; i < n; ++i) {
        Cell cell;
        cell.q_head = heads[static_cast<size_t>(i)];
        auto* box = new QCPLayoutGrid;
        grid->addElement(i / cols, i % cols, box);
        box->setRowSpacing(0);
        cell.title = new QCPTextElement(m_plot, QString(), title_font);
        cell.title->setMargins(QMargins(0, 2, 0, 1));
        box->addElement(0, 0, cell.title);
        cell.rect = new QCPAxisRect(m_plot);
        box->addElement(1, 0, cell.rect);
        box->setRowStretchFactor(0, 0.001);
        cell.rect->setupFullAxesBox(true);
        styleAxisRect(cell.rect);
        const QColor frame = groupColor(cell.q_head / g);
        for (QCPAxis* axis : cell.rect->axes()) {
            axis->setBasePen(QPen(frame, single ? 3.5 : 3.0));
            axis->setTickPen(QPen(frame.darker(120), 1));
            axis->setSubTickPen(Qt::NoPen);
            axis->grid()->setVisible(false);
            axis->setTickLabels(false);
        }
        QCPAxis* x = cell.rect->axis(QCPAxis::atBottom);
        QCPAxis* y = cell.rect->axis(QCPAxis::atLeft);
        x->setTickLabels(ticks);
        y->setTickLabels(ticks);
        if (!single) {
            x->ticker()->setTickCount(3);  // small cells: a few labels that do not collide
            y->ticker()->setTickCount(3);
        }
        y->setRangeReversed(true);  // query 0 at the top, like a matrix
        if (single) {
            x->setLabel(tr("key position j"));
            y->setLabel(tr("query position i"));
        } else {
            cell.rect->setAutoMargins(ticks ? QCP::msLeft | QCP::msBottom : QCP::msNone);
            if (!ticks) cell.rect->setMargins(QMargins(3, 3, 3, 3));
        }
        cell.map = new QCPColorMap(x, y);
        cell.map->setName(QStringLiteral("Q%1").arg(cell.q_head));
        cell.map->setInterpolate(false);
        cell.map->setTightBoundary(false);
        cell.map->setColorScale(m_colorScale);
        cell.step_marker = new QCPItemRect(m_plot);
        cell.step_marker->setClipAxisRect(cell.rect);
        cell.step_marker->topLeft->setAxes(x, y);
        cell.step_marker->bottomRight->setAxes(x, y);
        cell.step_marker->setPen(QPen(QColor(230, 30, 30), single ? 2.0 : 1.2));
        cell.step_marker->setBrush(Qt::NoBrush);
        cell.step_marker->setVisible(false);
        cell.boundary = new QCPItemStraightLine(m_plot);
        cell.boundary->setClipAxisRect(cell.rect);
        cell.boundary->point1->setAxes(x, y);
        cell.boundary->point2->setAxes(x, y);
        cell.boundary->setPen(QPen(QColor(255, 255, 255), 1.0, Qt::DashLine));
        cell.boundary->setVisible(false);
        m_cells.push_back(cell);
    }
    if (single) {
        m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
        m_cells.front().rect->setRangeDrag(Qt::Horizontal | Qt::Vertical);
        m_cells.front().rect->setRangeZoom(Qt::Horizontal | Qt::Vertical);
    } else {
        m_plot->setInteractions(QCP::Interactions());
    }
    auto* margins = new QCPMarginGroup(m_plot);
    m_colorScale->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
    if (n == 1) m_cells.front().rect->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
}

void AttentionView::fillCells(const LayerMaps* prompt, const std::vector<const LayerMaps*>& steps, int64_t g) {
    const MapScale scale = logScale() ? MapScale::Log : MapScale::Linear;
    const int64_t b = std::min<int64_t>(m_sequence->value(), m_result->shape.batch - 1);
    const bool decode = decodePhase() && !steps.empty() && steps.front();
    const int64_t step = std::clamp<int64_t>(decodeStep(), 0, static_cast<int64_t>(steps.size()) - 1);
    double max_w = 0.0;
    int64_t n = 0, T = 0;
    for (Cell& cell : m_cells) {
        QCPColorMapData* data = cell.map->data();
        if (decode) {
            fillDecodeMap(prompt, steps, b, cell.q_head, step, scale, *data);
            T = prompt ? prompt->q_len : steps.front()->kv_len - 1;
            n = T + static_cast<int64_t>(steps.size());
            for (int64_t s = 0; s <= step; ++s)
                if (const LayerMaps* m = steps[static_cast<size_t>(s)]; m)
                    for (int64_t j = 0; j < m->kv_len; ++j) {
                        const int64_t hi = headIndex(*m, cell.q_head);
                        if (hi >= 0) max_w = std::max(max_w, static_cast<double>(m->at(b, hi, 0, j)));
                    }
            if (prompt) max_w = std::max(max_w, maxWeight(*prompt, b, headIndex(*prompt, cell.q_head)));
            cell.step_marker->topLeft->setCoords(-0.5, static_cast<double>(T + step) - 0.5);
            cell.step_marker->bottomRight->setCoords(static_cast<double>(n) - 0.5, static_cast<double>(T + step) + 0.5);
            cell.step_marker->setVisible(true);
            cell.boundary->point1->setCoords(0, static_cast<double>(T) - 0.5);
            cell.boundary->point2->setCoords(1, static_cast<double>(T) - 0.5);
            cell.boundary->setVisible(prompt != nullptr);
            cell.rect->axis(QCPAxis::atBottom)->setRange(-0.5, static_cast<double>(n) - 0.5);
            cell.rect->axis(QCPAxis::atLeft)->setRange(-0.5, static_cast<double>(n) - 0.5);
        } else {
            const int64_t hi = headIndex(*prompt, cell.q_head);
            if (hi < 0) continue;
            fillPromptMap(*prompt, b, hi, scale, *data);
            max_w = std::max(max_w, maxWeight(*prompt, b, hi));
            cell.step_marker->setVisible(false);
            cell.boundary->setVisible(false);
            cell.rect->axis(QCPAxis::atBottom)->setRange(-0.5, static_cast<double>(prompt->kv_len) - 0.5);
            cell.rect->axis(QCPAxis::atLeft)->setRange(-0.5, static_cast<double>(prompt->q_len) - 0.5);
        }
        if (perHeadContrast()) {
            // Scale this map to its own largest weight (log scale: floor kept), so its pattern spans the colours.
            double m = 0.0;
            for (int y = 0; y < data->valueSize(); ++y)
                for (int x = 0; x < data->keySize(); ++x)
                    if (const double v = data->cell(x, y); std::isfinite(v)) m = std::max(m, v);
            if (m > 0.0)
                for (int y = 0; y < data->valueSize(); ++y)
                    for (int x = 0; x < data->keySize(); ++x)
                        if (const double v = data->cell(x, y); std::isfinite(v))
                            data->setCell(x, y, scale == MapScale::Log ? std::max(v / m, kLogFloor) : v / m);
            data->recalculateDataBounds();
        }
        const QString role = roleOf(cell.q_head);
        const int64_t kv = cell.q_head / g;
        QString title = m_cells.size() == 1
                            ? tr("Query head %1 · reads KV head %2 · %3").arg(cell.q_head).arg(kv).arg(role)
                            : QStringLiteral("Q%1 · KV%2 · %3").arg(cell.q_head).arg(kv).arg(role);
        if (m_cells.size() > 1) {
            // Shorter forms when the cell is narrow (the role stays in the hover text): never a clipped title.
            const int cols = gridColumns(static_cast<int>(m_cells.size()), g);
            const int cell_w = (m_plot->width() - 80) / std::max(cols, 1) - 6;
            const QFontMetrics fm(cell.title->font());
            if (role.isEmpty() || fm.horizontalAdvance(title) > cell_w)
                title = QStringLiteral("Q%1 · KV%2").arg(cell.q_head).arg(kv);
            if (fm.horizontalAdvance(title) > cell_w) title = QStringLiteral("Q%1").arg(cell.q_head);
        }
        cell.title->setText(title);
        cell.title->setTextColor(groupColor(kv).darker(125));
        if (!m_pieces.isEmpty() && cell.rect->axis(QCPAxis::atBottom)->tickLabels()) {
            // Token strings on both axes, shortened, at most about one label per 14 px.
            const int64_t n_pos = decode ? n : prompt->kv_len;
            const int px = std::max(40, std::min(cell.rect->width(), cell.rect->height()) > 0
                                            ? std::min(cell.rect->width(), cell.rect->height())
                                            : m_plot->height() / 2);
            const int64_t every = std::max<int64_t>(1, (n_pos * 14 + px - 1) / px);
            auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
            for (int64_t p = 0; p < n_pos && p < m_pieces.size(); p += every) {
                QString t = m_pieces[static_cast<int>(p)];
                if (t.size() > 7) t = t.left(6) + QChar(0x2026);
                ticker->addTick(static_cast<double>(p), t);
            }
            cell.rect->axis(QCPAxis::atBottom)->setTicker(ticker);
            cell.rect->axis(QCPAxis::atLeft)->setTicker(ticker);
            cell.rect->axis(QCPAxis::atBottom)->setTickLabelRotation(60);
        }
    }
    max_w = perHeadContrast() ? 1.0 : std::max(max_w, 1e-3);
    m_colorScale->axis()->setLabel(perHeadContrast() ? tr("weight ÷ the head's largest") : tr("attention weight"));
    m_colorScale->setDataScaleType(scale == MapScale::Log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (scale == MapScale::Log) {
        m_colorScale->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        m_colorScale->setDataRange(QCPRange(kLogFloor, std::max(max_w, kLogFloor * 10)));
    } else {
        m_colorScale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        m_colorScale->setDataRange(QCPRange(0.0, max_w));
    }
}

void AttentionView::keepSquare() {
    // One head large: keep cells square (after the layout knows the rect's size).
    if (m_cells.size() != 1) return;
    QCPAxisRect* rect = m_cells.front().rect;
    if (rect->width() <= 0 || rect->height() <= 0) return;
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    QCPAxis* y = rect->axis(QCPAxis::atLeft);
    if (rect->width() >= rect->height())
        x->setScaleRatio(y, 1.0);
    else
        y->setScaleRatio(x, 1.0);
}

const AttentionView::Cell* AttentionView::cellAt(const QPointF& pos) const {
    for (const Cell& c : m_cells)
        if (c.rect->rect().contains(pos.toPoint())) return &c;
    return nullptr;
}

QPointF AttentionView::cellCenter(int index, int64_t query, int64_t key) const {
    if (index < 0 || index >= static_cast<int>(m_cells.size())) return {};
    const Cell& c = m_cells[static_cast<size_t>(index)];
    return {c.rect->axis(QCPAxis::atBottom)->coordToPixel(static_cast<double>(key)),
            c.rect->axis(QCPAxis::atLeft)->coordToPixel(static_cast<double>(query))};
}

QString AttentionView::cellTitle(int index) const {
    if (index < 0 || index >= static_cast<int>(m_cells.size())) return {};
    return m_cells[static_cast<size_t>(index)].title->text();
}

QColor AttentionView::cellFrameColor(int index) const {
    if (index < 0 || index >= static_cast<int>(m_cells.size())) return {};
    return m_cells[static_cast<size_t>(index)].rect->axis(QCPAxis::atBottom)->basePen().color();
}

QString AttentionView::hoverTextAt(const QPointF& pos) const {
    const Cell* c = cellAt(pos);
    if (!c || !m_result) return {};
    const int64_t j = std::llround(c->rect->axis(QCPAxis::atBottom)->pixelToCoord(pos.x()));
    const int64_t i = std::llround(c->rect->axis(QCPAxis::atLeft)->pixelToCoord(pos.y()));
    const RunResult& r = *m_result;
    const LayerMaps* prompt = findLayerMaps(r.prompt_maps, layer());
    const int64_t b = std::min<int64_t>(m_sequence->value(), r.shape.batch - 1);
    double w = std::nan("");
    QString where;
    if (decodePhase()) {
        std::vector<const LayerMaps*> steps;
        for (const auto& sm : r.decode_maps) steps.push_back(findLayerMaps(sm, layer()));
        w = decodeWeight(prompt, steps, b, c->q_head, decodeStep(), i, j);
        const int64_t T = r.shape.prompt_len;
        where = i >= T ? tr("query %1 (decode step %2) → key %3").arg(pieceAt(i)).arg(i - T).arg(pieceAt(j))
                       : tr("query %1 (prompt) → key %2").arg(pieceAt(i), pieceAt(j));
    } else if (prompt) {
        w = promptWeight(*prompt, b, headIndex(*prompt, c->q_head), i, j);
        where = tr("query %1 → key %2").arg(pieceAt(i), pieceAt(j));
    }
    if (i < 0 || j < 0) return {};
    const int64_t g = std::max<int64_t>(1, r.config.groupSize());
    // Small weights (what the log scale is for) in significant digits, never rounded to 0.000000.
    const QString weight = std::isnan(w) ? tr("masked (a query never sees later keys)")
                           : w < 0.001   ? QString::number(w, 'e', 2)
                                         : QString::number(w, 'g', 3);
    // "query 'cat' (12) → key 'the' (9): 0.41", after the head and the KV head it reads.
    const QString role = roleOf(c->q_head);
    return tr("Q%1 (KV %2%3) · %4: %5")
        .arg(c->q_head)
        .arg(c->q_head / g)
        .arg(role.isEmpty() ? QString() : QStringLiteral(", ") + role, where, weight);
}

int64_t AttentionView::queryCount() const {
    if (!m_result) return 0;
    return decodePhase() ? m_result->shape.prompt_len + decodeStep() + 1 : m_result->shape.prompt_len;
}

int64_t AttentionView::selectedQuery() const {
    const int64_t n = queryCount();
    if (n <= 0) return -1;
    return m_query->value() < 0 ? n - 1 : std::min<int64_t>(m_query->value(), n - 1);
}

void AttentionView::selectQuery(int64_t position) {
    m_query->setValue(static_cast<int>(position));
}

std::vector<std::pair<int64_t, double>> AttentionView::topKeys(int64_t q_head, int64_t query, int k) const {
    std::vector<std::pair<int64_t, double>> out;
    if (!m_result || query < 0) return out;
    const RunResult& r = *m_result;
    const LayerMaps* prompt = findLayerMaps(r.prompt_maps, layer());
    std::vector<const LayerMaps*> steps;
    for (const auto& sm : r.decode_maps) steps.push_back(findLayerMaps(sm, layer()));
    const int64_t b = std::min<int64_t>(m_sequence->value(), r.shape.batch - 1);
    const bool decode = decodePhase() && !steps.empty() && steps.front();
    if (!decode && (!prompt || headIndex(*prompt, q_head) < 0)) return out;
    for (int64_t j = 0; j <= query; ++j) {
        const double w = decode ? decodeWeight(prompt, steps, b, q_head, decodeStep(), query, j)
                                : promptWeight(*prompt, b, headIndex(*prompt, q_head), query, j);
        if (!std::isnan(w)) out.emplace_back(j, w);
    }
    const size_t n = std::min<size_t>(static_cast<size_t>(std::max(k, 0)), out.size());
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                      [](const auto& a, const auto& c) {
                          return a.second > c.second || (a.second == c.second && a.first < c.first);
                      });
    out.resize(n);
    return out;
}

void AttentionView::fillTopKeys() {
    const int64_t n = queryCount();
    {
        const QSignalBlocker block(m_query);
        m_query->setMaximum(static_cast<int>(std::max<int64_t>(n - 1, 0)));
    }
    m_topKeys->setRowCount(0);
    const int64_t q = selectedQuery();
    if (!m_result || q < 0) return;
    const int64_t g = std::max<int64_t>(1, m_result->config.groupSize());
    m_topKeys->setRowCount(static_cast<int>(m_cells.size()));
    int row = 0;
    for (const Cell& c : m_cells) {  // the shown heads, in KV-group order
        m_topKeys->setItem(row, 0, new QTableWidgetItem(QStringLiteral("Q%1").arg(c.q_head)));
        m_topKeys->setItem(row, 1, new QTableWidgetItem(QStringLiteral("KV %1").arg(c.q_head / g)));
        const auto top = topKeys(c.q_head, q, 3);
        for (size_t t = 0; t < top.size(); ++t)
            m_topKeys->setItem(row, static_cast<int>(2 + t),
                               new QTableWidgetItem(QStringLiteral("%1  %2").arg(
                                   pieceAt(top[t].first), QString::number(top[t].second, 'f', 3))));
        ++row;
    }
    m_topKeys->setToolTip(tr("Query %1: each head's three most attended keys and their weights.").arg(pieceAt(q)));
}

void AttentionView::onMousePress(QMouseEvent* event) {
    const Cell* c = cellAt(event->position());
    if (!c) return;
    const int64_t i = std::llround(c->rect->axis(QCPAxis::atLeft)->pixelToCoord(event->position().y()));
    if (i >= 0 && i < queryCount()) selectQuery(i);
}

QString AttentionView::mapsCsv() const {
    QString out = QStringLiteral("layer,head,kv_head,query,key,tokens,weight\n");
    if (!m_result) return out;
    const RunResult& r = *m_result;
    const int64_t g = std::max<int64_t>(1, r.config.groupSize());
    const LayerMaps* prompt = findLayerMaps(r.prompt_maps, layer());
    std::vector<const LayerMaps*> steps;
    for (const auto& sm : r.decode_maps) steps.push_back(findLayerMaps(sm, layer()));
    const int64_t b = std::min<int64_t>(m_sequence->value(), r.shape.batch - 1);
    const bool decode = decodePhase() && !steps.empty() && steps.front();
    const int64_t n = decode ? r.shape.prompt_len + decodeStep() + 1 : r.shape.prompt_len;
    auto quoted = [](QString t) {
        t.replace(QLatin1String("\""), QLatin1String("\"\""));
        return QLatin1Char('"') + t + QLatin1Char('"');
    };
    QTextStream ts(&out);
    for (const Cell& c : m_cells) {
        const int64_t hi = prompt ? headIndex(*prompt, c.q_head) : -1;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                const double w = decode ? decodeWeight(prompt, steps, b, c.q_head, decodeStep(), i, j)
                                        : (hi >= 0 ? promptWeight(*prompt, b, hi, i, j) : std::nan(""));
                if (std::isnan(w)) continue;
                const QString tokens = m_pieces.isEmpty()
                                           ? QString()
                                           : quoted(QStringLiteral("%1 → %2").arg(
                                                 i < m_pieces.size() ? m_pieces[static_cast<int>(i)] : QString(),
                                                 j < m_pieces.size() ? m_pieces[static_cast<int>(j)] : QString()));
                ts << layer() << ',' << c.q_head << ',' << c.q_head / g << ',' << i << ',' << j << ',' << tokens << ','
                   << QString::number(w, 'g', 9) << '\n';
            }
    }
    return out;
}

void AttentionView::onMouseMove(QMouseEvent* event) {
    const QString text = hoverTextAt(event->position());
    if (text.isEmpty()) return;
    m_hover->setText(text);
    QToolTip::showText(event->globalPosition().toPoint(), text, m_plot);
}

}  // namespace gqa::ui
