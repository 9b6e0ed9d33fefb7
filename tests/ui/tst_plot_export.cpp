// Export of a plot to PNG / PDF (magic bytes) and its data to CSV (values checked).
#include <QtTest>

#include <QTemporaryDir>

#include <qcustomplot.h>

#include <cmath>

#include "plot_export.h"

using namespace gqa::ui;

class TestPlotExport : public QObject {
    Q_OBJECT
private slots:
    void formatFromSuffix_data() {
        QTest::addColumn<QString>("path");
        QTest::addColumn<int>("format");
        QTest::newRow("png") << "a/b.png" << int(ExportFormat::Png);
        QTest::newRow("PDF upper") << "x.PDF" << int(ExportFormat::Pdf);
        QTest::newRow("csv") << "data.csv" << int(ExportFormat::Csv);
        QTest::newRow("no suffix") << "plot" << int(ExportFormat::Png);
    }
    void formatFromSuffix() {
        QFETCH(QString, path);
        QFETCH(int, format);
        QCOMPARE(int(exportFormatFor(path)), format);
    }

    void writesValidFiles() {
        QCustomPlot plot;
        plot.resize(400, 300);
        auto* graph = plot.addGraph();
        graph->setName(QStringLiteral("kv, \"quoted\""));
        graph->setData({1, 2, 3}, {10, 20, 30});
        auto* bars = new QCPBars(plot.xAxis, plot.yAxis);
        bars->setName(QStringLiteral("bars"));
        bars->setData({0.5}, {7});
        auto* rect2 = new QCPAxisRect(&plot);
        plot.plotLayout()->addElement(0, 1, rect2);
        auto* map = new QCPColorMap(rect2->axis(QCPAxis::atBottom), rect2->axis(QCPAxis::atLeft));
        map->setName(QStringLiteral("map"));
        map->data()->setSize(2, 2);
        map->data()->setRange(QCPRange(0, 1), QCPRange(0, 1));
        map->data()->setCell(0, 0, 0.25);
        map->data()->setCell(1, 0, std::nan(""));  // masked: not exported
        map->data()->setCell(0, 1, 0.5);
        map->data()->setCell(1, 1, 0.75);
        plot.replot();

        QTemporaryDir dir;
        QString error;
        for (const char* ext : {"png", "pdf", "csv"}) {
            const QString path = dir.filePath(QStringLiteral("p.%1").arg(QLatin1String(ext)));
            QVERIFY2(exportPlot(&plot, path, exportFormatFor(path), &error), qPrintable(error));
        }
        QFile png(dir.filePath(QStringLiteral("p.png"))), pdf(dir.filePath(QStringLiteral("p.pdf")));
        QVERIFY(png.open(QIODevice::ReadOnly) && pdf.open(QIODevice::ReadOnly));
        QCOMPARE(png.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
        QCOMPARE(pdf.read(5), QByteArray("%PDF-"));
        QImage img(dir.filePath(QStringLiteral("p.png")));
        QVERIFY(!img.isNull());
        QCOMPARE(img.width(), 800);  // exported at 2x

        QFile csv(dir.filePath(QStringLiteral("p.csv")));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(csv.readAll());
        const QStringList expected = {
            QStringLiteral("axis_rect,series,x,y,z"),
            QStringLiteral("0,\"kv, \"\"quoted\"\"\",1,10,"),
            QStringLiteral("0,\"kv, \"\"quoted\"\"\",2,20,"),
            QStringLiteral("0,\"kv, \"\"quoted\"\"\",3,30,"),
            QStringLiteral("0,bars,0.5,7,"),
            QStringLiteral("1,map,0,0,0.25"),
            QStringLiteral("1,map,0,1,0.5"),
            QStringLiteral("1,map,1,1,0.75"),
            QString(),
        };
        QCOMPARE(text.split(QLatin1Char('\n')), expected);
    }

    void unwritablePathFails() {
        QCustomPlot plot;
        QString error;
        QVERIFY(!exportPlot(&plot, QStringLiteral("/nonexistent-dir/x.csv"), ExportFormat::Csv, &error));
        QVERIFY(!error.isEmpty());
        QVERIFY(!exportPlot(&plot, QStringLiteral("/nonexistent-dir/x.png"), ExportFormat::Png, &error));
    }
};

QTEST_MAIN(TestPlotExport)
#include "tst_plot_export.moc"
