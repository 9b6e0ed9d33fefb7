#include "grouping_diagram.h"

#include <QPainter>
#include <QPainterPath>
#include <QPdfWriter>
#include <QSaveFile>
#include <QTextDocument>

#include <algorithm>

#include "engine_types.h"
#include "plot_export.h"
#include "plot_style.h"
#include "teaching_text.h"

namespace gqa::ui {

GroupingDiagram::GroupingDiagram(QWidget* parent) : QWidget(parent) {
    setToolTip(teach::group() + QStringLiteral("<br><br>") + teach::kvShrinks() + QStringLiteral("<br><br>") +
               teach::flopsDoNot());
    setAutoFillBackground(true);
    QPalette p = palette();
    p.setColor(QPalette::Window, Qt::white);
    setPalette(p);
}

bool GroupingDiagram::exportTo(const QString& path, QString* error) const {
    auto* self = const_cast<GroupingDiagram*>(this);  // grab() and render() are not const
    switch (exportFormatFor(path)) {
        case ExportFormat::Png:
            if (self->grab().save(path, "PNG")) return true;
            break;
        case ExportFormat::Pdf: {
            QPdfWriter pdf(path);
            pdf.setPageSize(QPageSize(QSizeF(width(), height()), QPageSize::Point));
            pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
            pdf.setResolution(72);
            QPainter painter;
            if (painter.begin(&pdf)) {
                self->render(&painter);
                painter.end();
                return true;
            }
            break;
        }
        case ExportFormat::Csv: {
            QSaveFile f(path);
            if (f.open(QIODevice::WriteOnly | QIODevice::Text)) {
                QByteArray csv = "q_head,kv_head,group_size\n";
                const int64_t g = std::max<int64_t>(1, m_config.groupSize());
                for (int64_t h = 0; h < m_config.n_q_heads; ++h)
                    csv += QByteArray::number(static_cast<qlonglong>(h)) + ',' +
                           QByteArray::number(static_cast<qlonglong>(h / g)) + ',' +
                           QByteArray::number(static_cast<qlonglong>(g)) + '\n';
                f.write(csv);
                if (f.commit()) return true;
            }
            break;
        }
    }
    if (error) *error = tr("could not write %1").arg(path);
    return false;
}

void GroupingDiagram::setConfig(const ModelConfig& cfg) {
    m_config = cfg;
    update();
}

QString GroupingDiagram::summaryText() const {
    const ModelConfig& c = m_config;
    if (c.n_kv_heads <= 0) return {};
    const int64_t g = c.groupSize();
    const double per_layer = static_cast<double>(c.kvParamsPerLayer());
    const double total = per_layer * static_cast<double>(c.n_layers);
    ModelConfig mha = c;
    mha.n_kv_heads = c.n_q_heads;
    const double mha_total = static_cast<double>(mha.kvParamsPerLayer()) * static_cast<double>(c.n_layers);
    return tr("Group size g = n_q / n_kv = %1 / %2 = %3: query head h reads KV head ⌊h / %3⌋.\n"
              "K/V parameters: 2 · d_model · n_kv · head_dim = 2 · %4 · %2 · %5 = %6 per layer × %7 layers = %8"
              "  (MHA: %9, %3× more).")
        .arg(c.n_q_heads)
        .arg(c.n_kv_heads)
        .arg(g)
        .arg(c.d_model)
        .arg(c.head_dim)
        .arg(countText(per_layer))
        .arg(c.n_layers)
        .arg(countText(total))
        .arg(countText(mha_total));
}

namespace {

struct BarRow {
    QString label;
    double value;
    QString text;
    QColor color;
};

// A labelled set of horizontal bars whose lengths are proportional to their values.
void paintBars(QPainter& p, const QRectF& r, const QString& title, const std::vector<BarRow>& rows, const QFont& font) {
    QFont bold = font;
    bold.setBold(true);
    p.setFont(bold);
    p.setPen(QColor(40, 40, 40));
    p.drawText(QRectF(r.left(), r.top(), r.width(), 20), Qt::AlignLeft | Qt::AlignVCenter, title);
    p.setFont(font);
    double max_v = 0.0;
    for (const BarRow& b : rows) max_v = std::max(max_v, b.value);
    const double label_w = 56, text_w = 210;
    const double bar_w = std::max(40.0, r.width() - label_w - text_w);
    const double row_h = std::min(24.0, (r.height() - 24) / std::max<double>(1.0, double(rows.size())));
    double y = r.top() + 24;
    for (const BarRow& b : rows) {
        p.setPen(QColor(60, 60, 60));
        p.drawText(QRectF(r.left(), y, label_w, row_h), Qt::AlignLeft | Qt::AlignVCenter, b.label);
        const double w = max_v > 0 ? bar_w * b.value / max_v : 0.0;
        p.setPen(Qt::NoPen);
        p.setBrush(b.color);
        p.drawRoundedRect(QRectF(r.left() + label_w, y + 3, std::max(w, 2.0), row_h - 6), 2, 2);
        p.setPen(QColor(40, 40, 40));
        p.drawText(QRectF(r.left() + label_w + w + 6, y, text_w, row_h), Qt::AlignLeft | Qt::AlignVCenter, b.text);
        y += row_h;
    }
}

}  // namespace

void GroupingDiagram::paintEvent(QPaintEvent*) {
    ++m_paints;
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const ModelConfig& c = m_config;
    const QRectF area = QRectF(rect()).adjusted(24, 12, -24, -12);
    if (c.n_q_heads <= 0 || c.n_kv_heads <= 0 || c.n_q_heads % c.n_kv_heads != 0) {
        p.drawText(area, Qt::AlignCenter, tr("No valid grouping"));
        return;
    }
    const int64_t nq = c.n_q_heads, nkv = c.n_kv_heads, g = c.groupSize();

    // Title.
    QFont title = font();
    title.setPointSizeF(title.pointSizeF() * 1.35);
    title.setBold(true);
    p.setFont(title);
    p.setPen(Qt::black);
    const QString kind = QString::fromStdString(c.attentionKind());
    const QRectF title_rect(area.left(), area.top(), area.width(), 30);
    p.drawText(title_rect, Qt::AlignLeft | Qt::AlignVCenter,
               tr("%1 — %2 query heads share %3 K/V head%4").arg(kind).arg(nq).arg(nkv).arg(nkv == 1 ? "" : "s"));

    // Geometry: the head rows take the upper part, the per-token comparison and the formulas the rest.
    const double bottom_h = 190;
    const double top = title_rect.bottom() + 30;
    const double avail = std::max(150.0, area.bottom() - bottom_h - top);
    const double slot = area.width() / static_cast<double>(nq);
    const double q_w = std::clamp(slot * 0.78, 4.0, 46.0);
    const double q_h = std::clamp(q_w, 14.0, 36.0);
    const double q_y = top;
    const double kv_h = 52;
    const double kv_y = q_y + q_h + std::clamp(avail - q_h - kv_h - 30, 70.0, 240.0);

    QFont small = font();
    small.setPointSizeF(std::max(6.5, small.pointSizeF() * 0.85));
    p.setFont(small);
    p.setPen(QColor(90, 90, 90));
    p.drawText(QRectF(area.left(), q_y - 22, area.width(), 18), Qt::AlignLeft | Qt::AlignVCenter,
               tr("Query heads — each has its own W_Q and computes its own scores"));
    p.drawText(
        QRectF(area.left(), kv_y + kv_h + 4, area.width(), 18), Qt::AlignLeft | Qt::AlignVCenter,
        tr("Key/value heads — cached once, read by the %1 query head%2 of their group").arg(g).arg(g == 1 ? "" : "s"));

    // Group backgrounds behind the query heads.
    for (int64_t k = 0; k < nkv; ++k) {
        const double x0 = area.left() + static_cast<double>(k * g) * slot;
        QColor bg = groupColor(k);
        bg.setAlpha(28);
        p.setPen(Qt::NoPen);
        p.setBrush(bg);
        p.drawRoundedRect(QRectF(x0 + 1, q_y - 4, slot * static_cast<double>(g) - 2, q_h + 8), 6, 6);
    }

    // KV boxes centred under their groups.
    std::vector<QRectF> kv_boxes;
    for (int64_t k = 0; k < nkv; ++k) {
        const double cx = area.left() + (static_cast<double>(k * g) + static_cast<double>(g) / 2.0) * slot;
        const double w = std::clamp(slot * static_cast<double>(g) * 0.7, 6.0, 90.0);
        kv_boxes.emplace_back(cx - w / 2, kv_y, w, kv_h);
    }

    // Links: one per query head, to KV head h / g.
    for (int64_t h = 0; h < nq; ++h) {
        const int64_t k = h / g;
        const QPointF from(area.left() + (static_cast<double>(h) + 0.5) * slot, q_y + q_h);
        const QPointF to(kv_boxes[static_cast<size_t>(k)].center().x(), kv_y);
        QPainterPath path(from);
        const double mid = (from.y() + to.y()) / 2;
        path.cubicTo(QPointF(from.x(), mid), QPointF(to.x(), mid), to);
        QColor col = groupColor(k);
        col.setAlpha(nq > 32 ? 150 : 210);
        p.setPen(QPen(col, nq > 32 ? 1.0 : 1.8));
        p.setBrush(Qt::NoBrush);
        p.drawPath(path);
    }

    // Query head boxes.
    for (int64_t h = 0; h < nq; ++h) {
        const double cx = area.left() + (static_cast<double>(h) + 0.5) * slot;
        const QRectF box(cx - q_w / 2, q_y, q_w, q_h);
        const QColor col = groupColor(h / g);
        p.setPen(QPen(col.darker(130), 1.2));
        p.setBrush(col.lighter(150));
        p.drawRoundedRect(box, 3, 3);
        if (q_w >= 18) {
            p.setPen(Qt::black);
            p.setFont(small);
            p.drawText(box, Qt::AlignCenter, QStringLiteral("Q%1").arg(h));
        }
    }

    // KV head boxes, split into K and V halves.
    for (int64_t k = 0; k < nkv; ++k) {
        const QRectF& box = kv_boxes[static_cast<size_t>(k)];
        const QColor col = groupColor(k);
        p.setPen(QPen(col.darker(140), 1.5));
        p.setBrush(col);
        p.drawRoundedRect(box, 4, 4);
        p.setPen(QPen(Qt::white, 1.0));
        p.drawLine(QPointF(box.left() + 2, box.center().y()), QPointF(box.right() - 2, box.center().y()));
        if (box.width() >= 22) {
            p.setPen(Qt::white);
            QFont bold = small;
            bold.setBold(true);
            p.setFont(bold);
            const QRectF upper(box.left(), box.top(), box.width(), box.height() / 2);
            const QRectF lower(box.left(), box.center().y(), box.width(), box.height() / 2);
            const bool wide = box.width() >= 50;
            p.drawText(upper, Qt::AlignCenter, wide ? QStringLiteral("K%1").arg(k) : QStringLiteral("K"));
            p.drawText(lower, Qt::AlignCenter, wide ? QStringLiteral("V%1").arg(k) : QStringLiteral("V"));
        }
    }

    // Per token and layer: what is cached (shrinks by g) against what is computed (does not).
    const double bpe = static_cast<double>(bytesPerElement(c.kv_dtype));
    const double hd = static_cast<double>(c.head_dim);
    auto kvBytes = [&](int64_t n_kv) { return 2.0 * static_cast<double>(n_kv) * hd * bpe; };
    auto kvText = [&](int64_t n_kv) {
        return QStringLiteral("2·%1·%2·%3 B = %4")
            .arg(n_kv)
            .arg(c.head_dim)
            .arg(bpe)
            .arg(bytesText(static_cast<int64_t>(kvBytes(n_kv))));
    };
    const double flops = 4.0 * static_cast<double>(nq) * hd;
    const QString flop_text = QStringLiteral("4·%1·%2 = %3").arg(nq).arg(c.head_dim).arg(countText(flops));
    const double sec_top = kv_y + kv_h + 30;
    const double half = (area.width() - 30) / 2;
    const QRectF left(area.left(), sec_top, half, 100);
    const QRectF right(area.left() + half + 30, sec_top, half, 100);
    QFont body = font();
    body.setPointSizeF(std::max(7.0, body.pointSizeF() * 0.92));
    paintBars(p, left, tr("KV cache per token and layer: 2 · n_kv · head_dim · bytes"),
              {{tr("MHA"), kvBytes(nq), kvText(nq), mhaColor()},
               {tr("this"), kvBytes(nkv), kvText(nkv), currentColor()},
               {tr("MQA"), kvBytes(1), kvText(1), mqaColor()}},
              body);
    paintBars(p, right, tr("Score FLOPs per (query, key) pair: 4 · n_q · head_dim"),
              {{tr("MHA"), flops, flop_text, mhaColor()},
               {tr("this"), flops, flop_text + tr("  (unchanged)"), currentColor()},
               {tr("MQA"), flops, flop_text, mqaColor()}},
              body);

    // Summary lines.
    p.setFont(font());
    p.setPen(QColor(40, 40, 40));
    const QRectF text_rect(area.left(), sec_top + 108, area.width(), area.bottom() - sec_top - 108);
    const QRectF summary_bounds =
        p.boundingRect(text_rect, Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, summaryText());
    p.drawText(text_rect, Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, summaryText());

    // The why, in words, when there is room for it.
    const double doc_top = summary_bounds.bottom() + 14;
    if (area.bottom() - doc_top > 60) {
        QTextDocument doc;
        doc.setDefaultFont(body);
        doc.setTextWidth(area.width());
        doc.setHtml(
            QStringLiteral("<p>%1</p><p>%2</p><p>%3</p>").arg(teach::group(), teach::kvShrinks(), teach::flopsDoNot()));
        p.save();
        p.translate(area.left(), doc_top);
        doc.drawContents(&p, QRectF(0, 0, area.width(), area.bottom() - doc_top));
        p.restore();
    }
}

}  // namespace gqa::ui
