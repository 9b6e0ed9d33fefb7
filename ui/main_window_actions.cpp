// MainWindow: menus and actions, opening models (dialog, recent list, drag and drop), the window title.
#include "app_settings.h"
#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeyEvent>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPainter>
#include <QProgressBar>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "attention_view.h"
#include "compare_view.h"
#include "control_panel.h"
#include "gqa/presets.h"
#include "gqa/tokenizer.h"
#include "grouping_diagram.h"
#include "icons.h"
#include "latency_view.h"
#include "memory_view.h"
#include "plot_export.h"
#include "prompt_panel.h"
#include "teaching_text.h"
#include "tradeoff_view.h"

namespace gqa::ui {

namespace {
// A dropped checkpoint: a directory with config.json, or a .gguf file.
QString droppedModelPath(const QMimeData* mime) {
    if (!mime || !mime->hasUrls() || mime->urls().size() != 1) return {};
    const QString path = mime->urls().front().toLocalFile();
    const QFileInfo fi(path);
    if (fi.isDir() && QFileInfo::exists(path + QStringLiteral("/config.json"))) return path;
    if (fi.isFile() && fi.suffix().compare(QLatin1String("gguf"), Qt::CaseInsensitive) == 0) return path;
    return {};
}
}  // namespace

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open_model = file->addAction(actionIcon(QStringLiteral("open")), tr("Open &model…"), this,
                                          &MainWindow::openModelInteractively);
    open_model->setShortcut(Qt::CTRL | Qt::SHIFT | Qt::Key_O);
    open_model->setToolTip(
        tr("Open a checkpoint: a Hugging Face directory (config.json + safetensors) or a .gguf file. "
           "Dropping one on the window does the same."));
    m_recentMenu = file->addMenu(tr("Recent models"));
    connect(m_recentMenu, &QMenu::aboutToShow, this, &MainWindow::populateRecentModels);
    file->addSeparator();
    QAction* open = file->addAction(actionIcon(QStringLiteral("open")), tr("&Open session…"), this,
                                    &MainWindow::openSessionInteractively);
    open->setShortcut(QKeySequence::Open);
    QAction* save = file->addAction(actionIcon(QStringLiteral("save")), tr("&Save session as…"), this,
                                    &MainWindow::saveSessionInteractively);
    save->setShortcut(QKeySequence::Save);
    file->addSeparator();
    m_exportMenu = file->addMenu(actionIcon(QStringLiteral("export")), tr("&Export"));
    connect(m_exportMenu, &QMenu::aboutToShow, this, &MainWindow::populateExportMenu);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    QAction* now = run->addAction(tr("Run &now"), this, &MainWindow::requestRunNow);
    now->setShortcut(Qt::Key_F5);
    QAction* cancel = run->addAction(actionIcon(QStringLiteral("cancel")), tr("&Cancel run"), m_controller,
                                     &EngineController::cancelRun);
    // Esc belongs to the editors (it undoes an edit in a spin box); it cancels a run only when it reaches the
    // window unused (keyPressEvent), and Ctrl+. always does.
    cancel->setShortcut(Qt::CTRL | Qt::Key_Period);
    QAction* sweep =
        run->addAction(actionIcon(QStringLiteral("sweep")), tr("&Sweep KV-head counts"), this, &MainWindow::startSweep);
    run->addAction(tr("Cancel s&weep"), m_controller, &EngineController::cancelSweep);

    QMenu* compare = menuBar()->addMenu(tr("&Compare"));
    m_pinAction = compare->addAction(actionIcon(QStringLiteral("pin")), tr("&Pin current run"), this, &MainWindow::pin);
    m_pinAction->setShortcut(Qt::CTRL | Qt::Key_P);
    m_pinAction->setToolTip(
        tr("Keep this configuration and its result; it is overlaid on the live one in the Memory "
           "and Latency views and compared in the Compare tab."));
    m_unpinAction =
        compare->addAction(actionIcon(QStringLiteral("unpin")), tr("&Clear pin"), this, &MainWindow::clearPin);
    m_pinAction->setEnabled(false);
    m_unpinAction->setEnabled(false);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("What is grouped-query attention?"), this, [this] {
        QMessageBox::information(this, tr("Grouped-query attention"),
                                 teach::kinds() + QStringLiteral("<br><br>") + teach::group() +
                                     QStringLiteral("<br><br>") + teach::kvShrinks() + QStringLiteral("<br><br>") +
                                     teach::flopsDoNot());
    });
    help->addAction(tr("About Qt"), qApp, &QApplication::aboutQt);

    QToolBar* bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolbar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_pinAction);
    bar->addAction(m_unpinAction);
    bar->addSeparator();
    bar->addAction(sweep);
    bar->addSeparator();
    bar->addAction(open_model);
    bar->addAction(open);
    bar->addAction(save);
    auto* export_button = new QToolButton(bar);
    export_button->setText(tr("Export"));
    export_button->setIcon(actionIcon(QStringLiteral("export")));
    export_button->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    export_button->setPopupMode(QToolButton::InstantPopup);
    export_button->setMenu(m_exportMenu);
    bar->addWidget(export_button);
}

void MainWindow::populateExportMenu() {
    m_exportMenu->clear();
    const int tab = m_tabs->currentIndex();
    if (tab == GroupingTab) {
        m_exportMenu->addAction(tr("Grouping diagram (PNG, PDF, CSV)…"), this, [this] {
            const QString path =
                QFileDialog::getSaveFileName(this, tr("Export"), QStringLiteral("grouping.png"),
                                             tr("PNG image (*.png);;PDF document (*.pdf);;CSV data (*.csv)"));
            QString error;
            if (!path.isEmpty() && !m_grouping->exportTo(path, &error))
                QMessageBox::warning(this, tr("Export failed"), error);
        });
        return;
    }
    for (QCustomPlot* plot : plotsOfTab(tab)) {
        const QString name = plot->objectName();
        m_exportMenu->addAction(tr("%1 (PNG, PDF, CSV)…").arg(name), this,
                                [this, plot, name] { exportPlotInteractively(plot, name, this); });
    }
}

void MainWindow::updateWindowTitle() {
    const ModelConfig cfg = m_panel->config();
    if (m_model && m_panel->isRealModel()) {
        const QString what =
            QStringLiteral("%1 (%2, %3)")
                .arg(QString::fromStdString(m_model->config.name), QString::fromStdString(m_model->config.architecture),
                     QLatin1String(dtypeName(m_model->config.weight_dtype)));
        setWindowTitle(tr("%1 — grouped-query attention").arg(what));
        m_modelStatus->setText(what);
        return;
    }
    m_modelStatus->setText(tr("synthetic model %1").arg(QString::fromStdString(cfg.name)));
    setWindowTitle(tr("%1 (synthetic, %2) — grouped-query attention")
                       .arg(QString::fromStdString(cfg.name), QLatin1String(dtypeName(cfg.weight_dtype))));
}

void MainWindow::openModelInteractively() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open model"), QString(),
                                                      tr("Checkpoints (*.gguf config.json);;All files (*)"));
    if (path.isEmpty()) return;
    // A Hugging Face checkpoint is its directory: config.json picks it.
    openModel(QFileInfo(path).fileName() == QLatin1String("config.json") ? QFileInfo(path).absolutePath() : path);
}

void MainWindow::openModel(const QString& path) {
    m_loadingPath = path;
    m_controller->requestModelLoad(path);
    showStatus(tr("Loading model %1…").arg(path.toHtmlEscaped()));
    m_busy->setRange(0, 0);
    m_busy->setFormat(tr("loading model…"));
    m_busy->show();
    m_cancelRun->show();
}

void MainWindow::onModelLoaded(const ModelPtr& model, const QString& path) {
    m_loadingPath.clear();
    m_busy->hide();
    m_cancelRun->hide();
    setModel(model, path);
}

void MainWindow::onModelLoadFailed(const QString& path, const QString& message, bool cancelled) {
    m_loadingPath.clear();
    m_busy->hide();
    m_cancelRun->hide();
    showStatus(cancelled ? tr("Loading %1 cancelled.").arg(path.toHtmlEscaped())
                         : tr("Could not open %1: %2").arg(path.toHtmlEscaped(), message.toHtmlEscaped()),
               !cancelled);
}

void MainWindow::setModel(const ModelPtr& model, const QString& path) {
    if (!model) return;
    m_model = model;
    m_modelPath = path;
    rememberRecentModel(path);
    m_prompt->setTokenizer(model->tokenizer);
    if (!m_pendingPrompt.isEmpty()) m_prompt->setPrompt(std::exchange(m_pendingPrompt, QString()));
    m_panel->setPromptTokens(static_cast<int64_t>(m_prompt->tokens().size()));
    const ModelConfig& c = model->config;
    m_panel->setRealModel(
        c,
        tr("<b>%1</b> — %2, weights %3, KV cache %4<br><small>%5</small>")
            .arg(QString::fromStdString(c.name).toHtmlEscaped(), QString::fromStdString(c.architecture).toHtmlEscaped(),
                 QLatin1String(dtypeName(c.weight_dtype)), QLatin1String(dtypeName(c.kv_dtype)), path.toHtmlEscaped()));
    m_panel->setPromptTokens(static_cast<int64_t>(m_prompt->tokens().size()));
    updateWindowTitle();
    showStatus(tr("Opened %1: %2 layers, %3 query heads in %4 KV groups.")
                   .arg(path.toHtmlEscaped())
                   .arg(c.n_layers)
                   .arg(c.n_q_heads)
                   .arg(c.n_kv_heads));
    requestRunNow();
}

void MainWindow::rememberRecentModel(const QString& path) {
    if (!m_options.use_settings || path.isEmpty()) return;
    QSettings s = appSettings();
    QStringList recent = s.value(QStringLiteral("models/recent")).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > 8) recent.removeLast();
    s.setValue(QStringLiteral("models/recent"), recent);
}

void MainWindow::populateRecentModels() {
    m_recentMenu->clear();
    const QStringList recent =
        m_options.use_settings ? appSettings().value(QStringLiteral("models/recent")).toStringList() : QStringList();
    for (const QString& path : recent) m_recentMenu->addAction(path, this, [this, path] { openModel(path); });
    if (recent.isEmpty()) m_recentMenu->addAction(tr("(none yet)"))->setEnabled(false);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (!droppedModelPath(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QString path = droppedModelPath(event->mimeData());
    if (path.isEmpty()) return;
    event->acceptProposedAction();
    openModel(path);
}

void MainWindow::keyPressEvent(QKeyEvent* event) {
    // Only an Esc that no editor used: then it cancels the running computation.
    if (event->key() == Qt::Key_Escape && m_controller->isBusy()) {
        m_controller->cancelRun();
        event->accept();
        return;
    }
    QMainWindow::keyPressEvent(event);
}

}  // namespace gqa::ui
