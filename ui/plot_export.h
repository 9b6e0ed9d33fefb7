// Export of any plot to PNG / PDF (QCustomPlot's own writers) and of its data to CSV.
#pragma once

#include <QString>

#include <functional>

class QCustomPlot;
class QWidget;

namespace gqa::ui {

enum class ExportFormat { Png, Pdf, Csv };

// From the file suffix (.png / .pdf / .csv); Png when unknown.
ExportFormat exportFormatFor(const QString& path);

// Every plottable as rows of: axis_rect,series,x,y,z (graphs and bars leave z empty; colour maps give
// key, value and weight; cells hidden by the causal mask are omitted).
QString plotCsv(QCustomPlot* plot);

// A view whose drawn cells are not its data (the attention maps: clamped for the log scale, downsampled, one
// axis rect per head) registers the CSV of its data here; plotCsv then returns it instead of the cells.
void setCsvProvider(QCustomPlot* plot, std::function<QString()> provider);

bool exportPlot(QCustomPlot* plot, const QString& path, ExportFormat format, QString* error);

// Right-click menu on the plot: Export PNG… / PDF… / data as CSV…; file names start with base_name.
void installExportMenu(QCustomPlot* plot, const QString& base_name);

// Asks for a file name and exports (used by the menu and by File > Export current plot).
void exportPlotInteractively(QCustomPlot* plot, const QString& base_name, QWidget* parent);

}  // namespace gqa::ui
