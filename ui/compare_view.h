// Compare: the live configuration against the pinned one, as a table and as live ÷ pinned ratios.
#pragma once

#include <QStringList>
#include <QWidget>

#include <optional>

#include "snapshot.h"

class QCustomPlot;
class QLabel;
class QTableWidget;

namespace gqa::ui {

class CompareView : public QWidget {
    Q_OBJECT
public:
    explicit CompareView(QWidget* parent = nullptr);

    void setData(const std::optional<Snapshot>& live, const std::optional<Snapshot>& pinned);

    QCustomPlot* plot() const { return m_plot; }
    QList<QCustomPlot*> plots() const { return {m_plot}; }
    QTableWidget* table() const { return m_table; }
    // The metrics whose live and pinned values lie within each other's spread ("no measurable difference").
    QStringList noMeasurableDifference() const { return m_noDifference; }

private:
    QLabel* m_header = nullptr;
    QTableWidget* m_table = nullptr;
    QCustomPlot* m_plot = nullptr;
    QStringList m_noDifference;
};

}  // namespace gqa::ui
