#include "plot_export.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QHash>
#include <QMenu>
#include <QMessageBox>
#include <QSaveFile>
#include <QTextStream>

#include <qcustomplot.h>

#include <cmath>

namespace gqa::ui {

ExportFormat exportFormatFor(const QString& path) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("pdf")) return ExportFormat::Pdf;
    if (suffix == QLatin1String("csv")) return ExportFormat::Csv;
    return ExportFormat::Png;
}

namespace {

QString csvField(QString s) {
    if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"')) || s.contains(QLatin1Char('\n'))) {
        s.replace(QLatin1String("\""), QLatin1String("\"\""));
        return QLatin1Char('"') + s + QLatin1Char('"');
    }
    return s;
}

QString num(double v) {
    return QString::number(v, 'g', 10);
}

}  // namespace

namespace {

QHash<const QCustomPlot*, std::function<QString()>>& csvProviders() {
    static QHash<const QCustomPlot*, std::function<QString()>> providers;
    return providers;
}

}  // namespace

void setCsvProvider(QCustomPlot* plot, std::function<QString()> provider) {
    if (!csvProviders().contains(plot))
        QObject::connect(plot, &QObject::destroyed, [plot] { csvProviders().remove(plot); });
    csvProviders()[plot] = std::move(provider);
}

QString plotCsv(QCustomPlot* plot) {
    if (auto it = csvProviders().constFind(plot); it != csvProviders().constEnd() && *it) return (*it)();
    QString out;
    QTextStream ts(&out);
    ts << "axis_rect,series,x,y,z\n";
    const QList<QCPAxisRect*> rects = plot->axisRects();
    for (int i = 0; i < plot->plottableCount(); ++i) {
        QCPAbstractPlottable* p = plot->plottable(i);
        const int rect = static_cast<int>(rects.indexOf(p->keyAxis() ? p->keyAxis()->axisRect() : nullptr));
        const QString name = csvField(p->name().isEmpty() ? QStringLiteral("series %1").arg(i) : p->name());
        if (auto* g = qobject_cast<QCPGraph*>(p)) {
            for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
                ts << rect << ',' << name << ',' << num(it->key) << ',' << num(it->value) << ",\n";
        } else if (auto* b = qobject_cast<QCPBars*>(p)) {
            for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it)
                ts << rect << ',' << name << ',' << num(it->key) << ',' << num(it->value) << ",\n";
        } else if (auto* m = qobject_cast<QCPColorMap*>(p)) {
            QCPColorMapData* d = m->data();
            for (int y = 0; y < d->valueSize(); ++y)
                for (int x = 0; x < d->keySize(); ++x) {
                    const double z = d->cell(x, y);
                    if (std::isnan(z)) continue;
                    double key = 0, value = 0;
                    d->cellToCoord(x, y, &key, &value);
                    ts << rect << ',' << name << ',' << num(key) << ',' << num(value) << ',' << num(z) << '\n';
                }
        } else if (auto* c = qobject_cast<QCPCurve*>(p)) {
            for (auto it = c->data()->constBegin(); it != c->data()->constEnd(); ++it)
                ts << rect << ',' << name << ',' << num(it->key) << ',' << num(it->value) << ",\n";
        }
    }
    return out;
}

bool exportPlot(QCustomPlot* plot, const QString& path, ExportFormat format, QString* error) {
    bool ok = false;
    switch (format) {
        case ExportFormat::Png: ok = plot->savePng(path, plot->width(), plot->height(), 2.0); break;
        case ExportFormat::Pdf: ok = plot->savePdf(path, plot->width(), plot->height()); break;
        case ExportFormat::Csv: {
            QSaveFile f(path);
            if (f.open(QIODevice::WriteOnly | QIODevice::Text)) {
                f.write(plotCsv(plot).toUtf8());
                ok = f.commit();
            }
            if (!ok && error) *error = f.errorString();
            return ok;
        }
    }
    if (!ok && error) *error = QStringLiteral("could not write %1").arg(path);
    return ok;
}

void exportPlotInteractively(QCustomPlot* plot, const QString& base_name, QWidget* parent) {
    QString selected;
    const QString path = QFileDialog::getSaveFileName(
        parent, QObject::tr("Export plot"), base_name + QStringLiteral(".png"),
        QObject::tr("PNG image (*.png);;PDF document (*.pdf);;CSV data (*.csv)"), &selected);
    if (path.isEmpty()) return;
    QString error;
    if (!exportPlot(plot, path, exportFormatFor(path), &error))
        QMessageBox::warning(parent, QObject::tr("Export failed"), error);
}

void installExportMenu(QCustomPlot* plot, const QString& base_name) {
    plot->setObjectName(base_name);
    plot->setContextMenuPolicy(Qt::CustomContextMenu);
    QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot, base_name](const QPoint& pos) {
        QMenu menu(plot);
        auto ask = [plot, base_name](const QString& suffix, const QString& filter) {
            const QString path = QFileDialog::getSaveFileName(plot, QObject::tr("Export"), base_name + suffix, filter);
            if (path.isEmpty()) return;
            QString error;
            if (!exportPlot(plot, path, exportFormatFor(path), &error))
                QMessageBox::warning(plot, QObject::tr("Export failed"), error);
        };
        menu.addAction(QObject::tr("Export PNG…"), plot,
                       [ask] { ask(QStringLiteral(".png"), QObject::tr("PNG image (*.png)")); });
        menu.addAction(QObject::tr("Export PDF…"), plot,
                       [ask] { ask(QStringLiteral(".pdf"), QObject::tr("PDF document (*.pdf)")); });
        menu.addAction(QObject::tr("Export data as CSV…"), plot,
                       [ask] { ask(QStringLiteral(".csv"), QObject::tr("CSV data (*.csv)")); });
        menu.exec(plot->mapToGlobal(pos));
    });
}

}  // namespace gqa::ui
