// The application's QSettings store (geometry, window state, the last session, recent models).
#pragma once

#include <QSettings>

namespace gqa::ui {

inline QSettings appSettings() {
    return QSettings(QStringLiteral("GQA Lab"), QStringLiteral("gqa-lab"));
}

}  // namespace gqa::ui
