// Shared look of every plot: colours of KV groups and ops, fonts, the attention colour gradient.
#pragma once

#include <QColor>
#include <QFont>
#include <QString>

#include "gqa/backend.h"

class QCustomPlot;
class QCPAxisRect;
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

}  // namespace gqa::ui
