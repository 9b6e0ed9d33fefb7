#include "icons.h"

#include <QImageReader>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>

#include "plot_style.h"

static void initGqaLabResources() {
    Q_INIT_RESOURCE(gqa_lab);
}

namespace gqa::ui {

namespace {

bool svgSupported() {
    static const bool ok = QImageReader::supportedImageFormats().contains("svg");
    return ok;
}

// The application icon: four query heads in two colours linked to two K/V heads.
QPixmap paintAppIcon(int size) {
    QPixmap pm(size, size);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    p.scale(size / 64.0, size / 64.0);
    p.setPen(Qt::NoPen);
    p.setBrush(QColor(245, 247, 250));
    p.drawRoundedRect(QRectF(2, 2, 60, 60), 12, 12);
    const QColor a = groupColor(0), b = groupColor(1);
    const double qx[] = {12, 24, 40, 52};
    for (int i = 0; i < 4; ++i) {
        const QColor c = i < 2 ? a : b;
        p.setPen(QPen(c, 2.4));
        QPainterPath path(QPointF(qx[i], 20));
        path.cubicTo(QPointF(qx[i], 32), QPointF(i < 2 ? 18 : 46, 32), QPointF(i < 2 ? 18 : 46, 40));
        p.setBrush(Qt::NoBrush);
        p.drawPath(path);
        p.setPen(Qt::NoPen);
        p.setBrush(c.lighter(130));
        p.drawEllipse(QPointF(qx[i], 15), 5.5, 5.5);
    }
    for (int k = 0; k < 2; ++k) {
        p.setBrush(k == 0 ? a : b);
        p.drawRoundedRect(QRectF(k == 0 ? 9 : 37, 40, 18, 16), 3, 3);
        p.setPen(QPen(Qt::white, 1.5));
        p.drawLine(QPointF(k == 0 ? 11 : 39, 48), QPointF(k == 0 ? 25 : 53, 48));
        p.setPen(Qt::NoPen);
    }
    return pm;
}

}  // namespace

void initResources() {
    static const bool done = [] {
        initGqaLabResources();
        return true;
    }();
    (void)done;
}

QIcon appIcon() {
    initResources();
    if (svgSupported()) {
        QIcon icon(QStringLiteral(":/icons/gqa-lab.svg"));
        if (!icon.pixmap(32).isNull()) return icon;
    }
    QIcon icon;
    for (int s : {16, 24, 32, 48, 64, 128, 256}) icon.addPixmap(paintAppIcon(s));
    return icon;
}

QIcon actionIcon(const QString& name) {
    initResources();
    if (!svgSupported()) return {};
    return QIcon(QStringLiteral(":/icons/%1.svg").arg(name));
}

}  // namespace gqa::ui
