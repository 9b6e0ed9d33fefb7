// MainWindow: session persistence (save, open, the last session in the settings) and the pinned snapshot.
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

bool MainWindow::restoreFromSettings() {
    bool restored = false;
    if (m_options.use_settings) {
        QSettings s = appSettings();
        restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
        restoreState(s.value(QStringLiteral("window/state")).toByteArray());
        if (m_options.restore_session && m_options.preset.isEmpty()) {
            const QByteArray last = s.value(QStringLiteral("session/last")).toByteArray();
            if (!last.isEmpty()) {
                QString error;
                if (auto session = sessionFromJson(last, &error)) restored = applySession(*session, &error);
            }
        }
    }
    return restored;
}

void MainWindow::pin() {
    if (!m_analysis) return;
    m_pinned = makeSnapshot(*m_analysis, m_result.get());
    m_unpinAction->setEnabled(true);
    applyViews();
    showStatus(tr("Pinned %1. Change the configuration to compare against it.").arg(m_pinned->label.toHtmlEscaped()));
}

void MainWindow::clearPin() {
    m_pinned.reset();
    m_unpinAction->setEnabled(false);
    applyViews();
}

Session MainWindow::currentSession() const {
    Session s;
    s.preset = m_panel->presetName();
    s.config = m_panel->config();
    s.shape = m_panel->shape();
    s.backend = m_panel->backend();
    s.run_layers = m_panel->runLayers();
    if (m_model && m_panel->isRealModel()) {
        s.model_path = m_modelPath;
        s.prompt = m_prompt->prompt();
        // The synthetic part must still load on its own: the last preset's shape stands in for the checkpoint.
        s.preset = QString::fromLatin1(kDefaultPreset);
        s.config = findPreset(kDefaultPreset).value();
        s.shape = RunShape{1, 64, 16};
        s.run_layers = 0;
    }
    s.view.tab = m_tabs->currentIndex();
    s.view.map_layer = m_attention->layer();
    s.view.attention_mode = static_cast<int>(m_attention->mode());
    s.view.head = m_attention->head();
    s.view.log_scale = m_attention->logScale();
    s.view.decode_phase = m_attention->decodePhase();
    s.view.decode_step = m_attention->decodeStep();
    s.pinned = m_pinned;
    return s;
}

bool MainWindow::applySession(const Session& session, QString* error) {
    if (!m_panel->setState(session.preset, session.config, session.shape, session.backend, session.run_layers, error))
        return false;
    // The session's model is synthetic (its checkpoint, if any, reopens below).
    if (m_model && !m_panel->isRealModel()) {
        dropModel();
        updateWindowTitle();
    }
    m_attention->setViewState(
        session.view.map_layer,
        session.view.attention_mode == 1 ? AttentionView::Mode::SingleHead : AttentionView::Mode::Grid,
        session.view.head, session.view.log_scale, session.view.decode_phase, session.view.decode_step);
    m_tabs->setCurrentIndex(std::clamp(session.view.tab, 0, m_tabs->count() - 1));
    m_pinned = session.pinned;
    m_unpinAction->setEnabled(m_pinned.has_value());
    m_grouping->setConfig(m_panel->config());
    m_tradeoff->setCurrentConfig(m_panel->config());
    applyViews();
    requestRunNow();
    if (!session.model_path.isEmpty()) {
        if (QFileInfo::exists(session.model_path)) {
            m_pendingPrompt = session.prompt;
            openModel(session.model_path);
        } else {
            showStatus(tr("The session's model %1 is gone (moved or deleted); the rest of the session is open on the "
                          "synthetic model. Open the model again with File → Open model….")
                           .arg(session.model_path.toHtmlEscaped()),
                       true);
        }
    }
    return true;
}

bool MainWindow::saveSession(const QString& path, QString* error) {
    return saveSessionFile(currentSession(), path, error);
}

bool MainWindow::loadSession(const QString& path, QString* error) {
    QString why;
    auto session = loadSessionFile(path, &why);
    if (!session || !applySession(*session, &why)) {
        const QString msg = tr("Refused %1: %2. The current session is kept.").arg(path, why);
        showStatus(msg.toHtmlEscaped(), true);
        if (error) *error = why;
        return false;
    }
    if (session->model_path.isEmpty() || QFileInfo::exists(session->model_path))
        showStatus(tr("Loaded session %1").arg(path.toHtmlEscaped()));
    return true;
}

void MainWindow::openSessionInteractively() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open session"), QString(), tr("GQA Lab session (*.json)"));
    if (path.isEmpty()) return;
    QString error;
    if (!loadSession(path, &error))
        QMessageBox::warning(
            this, tr("Session refused"),
            tr("%1 is not a valid GQA Lab session:\n%2\n\nThe current session is kept.").arg(path, error));
}

void MainWindow::saveSessionInteractively() {
    QString path = QFileDialog::getSaveFileName(this, tr("Save session"), QStringLiteral("session.json"),
                                                tr("GQA Lab session (*.json)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(QLatin1String(".json"))) path += QLatin1String(".json");
    QString error;
    if (saveSession(path, &error))
        showStatus(tr("Saved session %1").arg(path.toHtmlEscaped()));
    else
        QMessageBox::warning(this, tr("Save failed"), error);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_options.use_settings) {
        QSettings s = appSettings();
        s.setValue(QStringLiteral("window/geometry"), saveGeometry());
        s.setValue(QStringLiteral("window/state"), saveState());
        s.setValue(QStringLiteral("session/last"), sessionToJson(currentSession()));
    }
    m_controller->cancelRun();
    m_controller->cancelSweep();
    m_controller->cancelTradeoff();
    QMainWindow::closeEvent(event);
}

}  // namespace gqa::ui
