// `gqa-lab --screenshot DIR`: drive the real window through a fixed script (first result, a pinned MHA
// variant for the overlays, a KV-head sweep) and write one PNG per view with QWidget::grab.
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>

namespace gqa::ui {

class MainWindow;

class ScreenshotRunner : public QObject {
    Q_OBJECT
public:
    ScreenshotRunner(MainWindow* window, QString dir, QObject* parent = nullptr);
    void start();

signals:
    void finished(int exit_code);

private:
    void afterNextResult(std::function<void()> then);
    void stepPinMha();
    void stepBackToDefault();
    void stepSweep();
    void stepTradeoff();
    void stepGrouping();
    void shoot();
    bool grabTab(int tab, const QString& name);
    void fail(const QString& why);

    MainWindow* m_window;
    QString m_dir;
    QTimer m_timeout;
    std::function<void()> m_then;
    int64_t m_defaultKv = 0;
    int m_written = 0;
};

}  // namespace gqa::ui
