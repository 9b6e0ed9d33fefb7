// Icons from resources/ (SVG); when Qt has no SVG plugin, the same drawings are painted with QPainter.
#pragma once

#include <QIcon>

namespace gqa::ui {

void initResources();  // the resources live in a static library: register them once
QIcon appIcon();
QIcon actionIcon(const QString& name);  // "pin", "unpin", "export", "open", "save", "sweep", "cancel"

}  // namespace gqa::ui
