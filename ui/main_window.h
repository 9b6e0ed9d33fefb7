// The main window: controls on the left, the views as tabs, status and busy indicator at the bottom.
// Every control change is reflected at once where nothing needs computing (kind label, grouping
// diagram), debounced with a single-shot QTimer, and sent to the engine worker through the controller.
#pragma once

#include <QElapsedTimer>
#include <QMainWindow>
#include <QTimer>

#include <optional>

#include "engine_controller.h"
#include "session.h"
#include "snapshot.h"

class QCustomPlot;
class QLabel;
class QMenu;
class QProgressBar;
class QTabWidget;
class QToolButton;
class QAction;

namespace gqa::ui {

class AttentionView;
class CompareView;
class DiversityView;
class HeadStatsView;
class ControlPanel;
class GroupingDiagram;
class LatencyView;
class MemoryView;
class PromptPanel;
class TradeoffView;

struct MainWindowOptions {
    bool use_settings = true;     // QSettings: geometry, state, last session, recent models
    bool restore_session = true;  // reopen the last session (only with use_settings)
    int debounce_ms = 150;
    QString preset;      // start with this preset instead of the default / last session
    QString model_path;  // open this checkpoint (a Hugging Face directory or a .gguf file)
    QString prompt;      // its prompt (empty = the default prompt)
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum Tab {
        AttentionTab = 0,
        GroupingTab,
        MemoryTab,
        LatencyTab,
        CompareTab,
        TradeoffTab,
        HeadStatsTab,
        DiversityTab
    };

    // Takes ownership of `controller`; creates a ThreadedEngineController when it is null.
    explicit MainWindow(const MainWindowOptions& options = {}, EngineController* controller = nullptr,
                        QWidget* parent = nullptr);
    ~MainWindow() override;

    ControlPanel* controlPanel() const { return m_panel; }
    GroupingDiagram* groupingDiagram() const { return m_grouping; }
    AttentionView* attentionView() const { return m_attention; }
    MemoryView* memoryView() const { return m_memory; }
    LatencyView* latencyView() const { return m_latency; }
    CompareView* compareView() const { return m_compare; }
    TradeoffView* tradeoffView() const { return m_tradeoff; }
    HeadStatsView* headStatsView() const { return m_headStats; }
    DiversityView* diversityView() const { return m_diversity; }
    // The Head statistics / Head diversity tabs' analysis of the live model (and a coarser grouping of it).
    GroupingAnalysisRequest groupingParams() const;
    const GroupingAnalysisPtr& groupingAnalysis() const { return m_groupingAnalysis; }
    QTabWidget* tabs() const { return m_tabs; }
    EngineController* controller() const { return m_controller; }
    QTimer* debounceTimer() { return &m_debounce; }
    QProgressBar* busyIndicator() const { return m_busy; }
    QToolButton* cancelRunButton() const { return m_cancelRun; }
    QLabel* statusLabel() const { return m_status; }
    QLabel* depthBanner() const { return m_banner; }
    PromptPanel* promptPanel() const { return m_prompt; }
    QLabel* modelStatusLabel() const { return m_modelStatus; }

    // Real models: loads on the worker (progress, cancel; refused before mapping when it will not fit), then
    // setModel. The recent list remembers it.
    void openModel(const QString& path);
    void setModel(const ModelPtr& model, const QString& path);
    const ModelPtr& model() const { return m_model; }
    const QString& modelPath() const { return m_modelPath; }
    bool isLoadingModel() const { return !m_loadingPath.isEmpty(); }

    QList<QCustomPlot*> plotsOfTab(int tab) const;
    QList<QCustomPlot*> visiblePlots() const;

    Session currentSession() const;
    bool applySession(const Session& session, QString* error);
    bool saveSession(const QString& path, QString* error);
    // A file that is not a valid session is refused; the current session is kept.
    bool loadSession(const QString& path, QString* error);

    void pin();
    void clearPin();
    const std::optional<Snapshot>& pinned() const { return m_pinned; }
    const AnalysisPtr& analysis() const { return m_analysis; }
    const RunResultPtr& result() const { return m_result; }
    quint64 requestedRunId() const { return m_requestId; }
    quint64 shownRunId() const { return m_shownId; }
    QString statusText() const;
    RunParams currentParams() const;
    // The Trade-off tab's sweep of the live model.
    TradeoffParams tradeoffParams() const;

public slots:
    void requestRunNow();  // skips the debounce
    void startSweep();
    // The MHA -> GQA trade-off sweep of the live model (Trade-off tab), on the engine worker.
    void startTradeoff();

signals:
    void runRequested(quint64 id);     // the debounce fired and the request went to the worker
    void analysisApplied(quint64 id);  // the analytic picture is shown (long runs, failures)
    void resultApplied(quint64 id);    // every view now shows this result
    void runFailureShown(quint64 id, const QString& message);

protected:
    void closeEvent(QCloseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildMenus();
    void updateWindowTitle();
    void openModelInteractively();
    void onModelLoaded(const ModelPtr& model, const QString& path);
    void onModelLoadFailed(const QString& path, const QString& message, bool cancelled);
    void rememberRecentModel(const QString& path);
    void populateRecentModels();
    void dropModel();  // back to synthetic models: the checkpoint, its path and tokenizer go
    void onControlsChanged();
    void onAnalysis(quint64 id, const AnalysisPtr& analysis);
    void onResult(quint64 id, const RunResultPtr& result);
    void onRunFailed(quint64 id, const QString& message, bool cancelled);
    void onBusyChanged(bool busy);
    void pollProgress();
    void applyAnalysisOnly();
    void applyViews();
    void updateBanner();
    void showStatus(const QString& text, bool error = false);
    // Geometry, window state and (unless told otherwise) the last session; true when a session was applied.
    bool restoreFromSettings();
    void openSessionInteractively();
    void saveSessionInteractively();
    void populateExportMenu();
    void startTradeoffIfStale();
    void startGroupingAnalysisIfStale();
    void pollTradeoff();

    MainWindowOptions m_options;
    EngineController* m_controller = nullptr;
    ControlPanel* m_panel = nullptr;
    QTabWidget* m_tabs = nullptr;
    AttentionView* m_attention = nullptr;
    GroupingDiagram* m_grouping = nullptr;
    MemoryView* m_memory = nullptr;
    LatencyView* m_latency = nullptr;
    CompareView* m_compare = nullptr;
    TradeoffView* m_tradeoff = nullptr;
    HeadStatsView* m_headStats = nullptr;
    DiversityView* m_diversity = nullptr;
    QString m_groupingKey;  // what the shown / requested grouping analysis was computed for
    GroupingAnalysisPtr m_groupingAnalysis;
    QLabel* m_banner = nullptr;
    QLabel* m_status = nullptr;
    QLabel* m_ceilings = nullptr;
    QProgressBar* m_busy = nullptr;
    QToolButton* m_cancelRun = nullptr;
    QMenu* m_exportMenu = nullptr;
    QAction* m_pinAction = nullptr;
    QAction* m_unpinAction = nullptr;

    QTimer m_debounce;
    QTimer m_analysisGrace;  // short runs: wait for the result instead of showing the analysis alone
    QTimer m_poll;
    QTimer m_tradeoffPoll;
    QElapsedTimer m_requestClock;

    quint64 m_requestId = 0;
    quint64 m_shownId = 0;
    AnalysisPtr m_pendingAnalysis;
    AnalysisPtr m_analysis;
    RunResultPtr m_result;
    std::optional<Snapshot> m_pinned;
    bool m_closing = false;
    bool m_requestDepthIsDefault = true;
    PromptPanel* m_prompt = nullptr;
    QLabel* m_modelStatus = nullptr;
    QMenu* m_recentMenu = nullptr;
    ModelPtr m_model;
    QString m_modelPath;
    QString m_loadingPath;
    QString m_pendingPrompt;  // set on the prompt box once the model is loaded  // the request's depth was the app's
                              // choice, not the user's
};

}  // namespace gqa::ui
