// Shared look of every plot: colours of KV groups and ops, fonts, the attention colour gradient.
#pragma once

#include <QColor>
#include <QFont>
#include <QString>
#include <QVector>

#include "gqa/backend.h"

class QCustomPlot;
class QCPAbstractPlottable;
class QCPAxisRect;
class QCPErrorBars;
class QCPColorGradient;

namespace gqa::ui {

QColor groupColor(int64_t kv_head);  // one distinct colour per KV group
QColor opColor(Op op);
QColor mhaColor();
QColor mqaColor();
QColor currentColor();
QColor pinnedColor();
QColor deviceColor();

QCPColorGradient attentionGradient();  // perceptual, dark = 0, bright = 1 (viridis-like)

// Fonts and margins that read well on screen and in exported PNG/PDF.
void stylePlot(QCustomPlot* plot);
void styleAxisRect(QCPAxisRect* rect);
// Replots now when the plot is on screen; otherwise marks it stale and replots when it is next shown, so
// hidden tabs cost nothing while the user edits (every view calls this instead of replot()).
void queueReplot(QCustomPlot* plot);

QFont titleFont();
QFont smallFont();

// Error bars on `on`'s data points, in its data order (sorted by key): each point's [value - minus[i],
// value + plus[i]] (along_key: the key's). Every latency plot draws the min-max spread of its medians with
// them; the bars are named "min–max over repeats" for their legend.
QCPErrorBars* addSpreadBars(QCPAbstractPlottable* on, const QVector<double>& minus, const QVector<double>& plus,
                            bool along_key = false);

}  // namespace gqa::ui
