#include "plot_style.h"

#include <qcustomplot.h>

namespace gqa::ui {

namespace {

constexpr const char* kStale = "gqaReplotPending";

class ReplotOnShow : public QObject {
public:
    using QObject::QObject;
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (event->type() == QEvent::Show) {
            auto* plot = static_cast<QCustomPlot*>(watched);
            if (plot->property(kStale).toBool()) {
                plot->setProperty(kStale, false);
                // Render the buffer now (repaint is still scheduled), so the first frame shown is current.
                plot->replot(QCustomPlot::rpRefreshHint);
            }
        }
        return false;
    }
};

}  // namespace

void queueReplot(QCustomPlot* plot) {
    if (plot->isVisible()) {
        plot->setProperty(kStale, false);
        plot->replot(QCustomPlot::rpQueuedReplot);
    } else {
        plot->setProperty(kStale, true);
    }
}

QColor groupColor(int64_t kv_head) {
    // Tableau-like qualitative palette: distinct hues that stay readable as frames and text.
    static const QColor palette[] = {
        QColor(31, 119, 180), QColor(255, 127, 14),  QColor(44, 160, 44),   QColor(214, 39, 40),  QColor(148, 103, 189),
        QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34), QColor(23, 190, 207),
    };
    constexpr int64_t n = sizeof(palette) / sizeof(palette[0]);
    const QColor base = palette[kv_head % n];
    // Past the palette, cycle with a darker shade so neighbours still differ.
    return (kv_head / n) % 2 == 0 ? base : base.darker(140);
}

QColor opColor(Op op) {
    switch (op) {
        case Op::Norm: return QColor(166, 166, 166);
        case Op::Qkv: return QColor(78, 121, 167);
        case Op::Rope: return QColor(118, 183, 178);
        case Op::Attention: return QColor(225, 87, 89);
        case Op::OProj: return QColor(242, 142, 43);
        case Op::Ffn: return QColor(89, 161, 79);
        case Op::Count: break;
    }
    return Qt::black;
}

QColor mhaColor() {
    return QColor(120, 120, 120);
}
QColor mqaColor() {
    return QColor(148, 103, 189);
}
QColor currentColor() {
    return QColor(31, 119, 180);
}
QColor pinnedColor() {
    return QColor(214, 39, 40);
}
QColor deviceColor() {
    return QColor(200, 30, 30);
}

QCPColorGradient attentionGradient() {
    QCPColorGradient g;
    g.clearColorStops();
    // Viridis, sampled.
    g.setColorStopAt(0.00, QColor(68, 1, 84));
    g.setColorStopAt(0.13, QColor(71, 44, 122));
    g.setColorStopAt(0.25, QColor(59, 81, 139));
    g.setColorStopAt(0.38, QColor(44, 113, 142));
    g.setColorStopAt(0.50, QColor(33, 144, 141));
    g.setColorStopAt(0.63, QColor(39, 173, 129));
    g.setColorStopAt(0.75, QColor(92, 200, 99));
    g.setColorStopAt(0.88, QColor(170, 220, 50));
    g.setColorStopAt(1.00, QColor(253, 231, 37));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setNanHandling(QCPColorGradient::nhNanColor);
    g.setNanColor(QColor(242, 242, 242));
    g.setLevelCount(256);
    return g;
}

QFont titleFont() {
    QFont f;
    f.setPointSizeF(10.0);
    f.setBold(true);
    return f;
}

QCPErrorBars* addSpreadBars(QCPAbstractPlottable* on, const QVector<double>& minus, const QVector<double>& plus,
                            bool along_key) {
    auto* bars = new QCPErrorBars(on->keyAxis(), on->valueAxis());
    bars->setDataPlottable(on);
    bars->setErrorType(along_key ? QCPErrorBars::etKeyError : QCPErrorBars::etValueError);
    bars->setData(minus, plus);
    bars->setPen(QPen(QColor(30, 30, 30), 1.2));
    bars->setWhiskerWidth(7);
    bars->setSymbolGap(0);
    bars->setName(QObject::tr("min–max over repeats"));
    bars->setSelectable(QCP::stNone);
    return bars;
}

QFont smallFont() {
    QFont f;
    f.setPointSizeF(8.0);
    return f;
}

void styleAxisRect(QCPAxisRect* rect) {
    for (QCPAxis* axis : rect->axes()) {
        axis->setTickLabelFont(smallFont());
        QFont lf;
        lf.setPointSizeF(9.0);
        axis->setLabelFont(lf);
        axis->grid()->setPen(QPen(QColor(225, 225, 225), 0, Qt::SolidLine));
        axis->grid()->setSubGridVisible(false);
    }
}

void stylePlot(QCustomPlot* plot) {
    plot->setBackground(Qt::white);
    plot->setAntialiasedElements(QCP::aeNone);
    plot->setNotAntialiasedElements(QCP::aeAll);
    plot->setAntialiasedElement(QCP::aePlottables, true);
    plot->setAntialiasedElement(QCP::aeItems, true);
    plot->setNoAntialiasingOnDrag(true);
    plot->setMinimumSize(200, 150);
    plot->setAutoAddPlottableToLegend(false);  // every view places its own legends
    plot->installEventFilter(new ReplotOnShow(plot));
    if (plot->axisRect()) styleAxisRect(plot->axisRect());
}

}  // namespace gqa::ui
