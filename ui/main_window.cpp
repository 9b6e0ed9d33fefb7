// MainWindow: the widgets, their wiring to the engine controller, and the views of each result. Menus and
// model opening are in main_window_actions.cpp, sessions in main_window_session.cpp.
#include "main_window.h"
#include "app_settings.h"

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
#include "diversity_view.h"
#include "gqa/presets.h"
#include "gqa/tokenizer.h"
#include "grouping_diagram.h"
#include "head_stats_view.h"
#include "icons.h"
#include "latency_view.h"
#include "memory_view.h"
#include "plot_export.h"
#include "prompt_panel.h"
#include "teaching_text.h"
#include "tradeoff_view.h"

namespace gqa::ui {

namespace {

// Runs predicted (or seen) to take longer than this show the analysis first, then a progress bar.
constexpr double kShowAnalysisFirstMs = 300.0;
constexpr int kAnalysisGraceMs = 250;
constexpr int kLongRunMs = 1000;
constexpr double kLiveRepeatBudgetMs = 250.0;

// The Trade-off tab stays interactive: a synthetic model sweeps a short prompt and few decode steps, a
// checkpoint's quality text is scored up to this many tokens.
constexpr int64_t kTradeoffMaxPrompt = 64;
constexpr int64_t kTradeoffMaxDecode = 4;
constexpr int64_t kTradeoffMaxTextTokens = 512;

}  // namespace

MainWindow::MainWindow(const MainWindowOptions& options, EngineController* controller, QWidget* parent)
    : QMainWindow(parent), m_options(options), m_controller(controller) {
    registerMetaTypes();
    initResources();
    // Qt adds the application's display name ("GQA Lab") itself; the title names what is open.
    setWindowTitle(tr("grouped-query attention"));
    setWindowIcon(appIcon());
    setObjectName(QStringLiteral("GqaLabMainWindow"));
    if (!m_controller) m_controller = new ThreadedEngineController(this);
    m_controller->setParent(this);

    // Controls.
    m_panel = new ControlPanel;
    auto* scroll = new QScrollArea;
    scroll->setWidget(m_panel);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* dock = new QDockWidget(tr("Model and run"), this);
    dock->setObjectName(QStringLiteral("controlsDock"));
    dock->setWidget(scroll);
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    dock->setMinimumWidth(300);
    addDockWidget(Qt::LeftDockWidgetArea, dock);

    m_prompt = new PromptPanel;
    auto* prompt_dock = new QDockWidget(tr("Prompt and next token"), this);
    prompt_dock->setObjectName(QStringLiteral("promptDock"));
    prompt_dock->setWidget(m_prompt);
    prompt_dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    addDockWidget(Qt::TopDockWidgetArea, prompt_dock);
    setAcceptDrops(true);

    // Views.
    auto* central = new QWidget(this);
    auto* cl = new QVBoxLayout(central);
    cl->setContentsMargins(2, 2, 2, 2);
    m_banner = new QLabel(central);
    m_banner->setObjectName(QStringLiteral("depthBanner"));
    m_banner->setWordWrap(true);
    m_banner->setStyleSheet(QStringLiteral("QLabel { background: #fff4cc; border: 1px solid #e0c060; padding: 4px; }"));
    m_banner->hide();
    cl->addWidget(m_banner);
    m_tabs = new QTabWidget(central);
    m_attention = new AttentionView;
    m_grouping = new GroupingDiagram;
    m_memory = new MemoryView;
    m_latency = new LatencyView;
    m_compare = new CompareView;
    m_tradeoff = new TradeoffView;
    m_headStats = new HeadStatsView;
    m_diversity = new DiversityView;
    m_tabs->addTab(m_attention, tr("Attention maps"));
    m_tabs->addTab(m_grouping, tr("Head grouping"));
    m_tabs->addTab(m_memory, tr("Memory"));
    m_tabs->addTab(m_latency, tr("Latency"));
    m_tabs->addTab(m_compare, tr("Compare"));
    m_tabs->addTab(m_tradeoff, tr("Trade-off"));
    m_tabs->addTab(m_headStats, tr("Head statistics"));
    m_tabs->addTab(m_diversity, tr("Head diversity"));
    m_tabs->setTabToolTip(HeadStatsTab, tr("Per query head, by KV group: entropy, mean distance, sink, previous-token, "
                                           "local and long-range attention mass. Click a head to open its map."));
    m_tabs->setTabToolTip(DiversityTab, tr("How alike the query heads attend (Jensen–Shannon divergence) inside and "
                                           "between KV groups, for the live model and a coarser grouping of it."));
    m_tabs->setTabToolTip(TradeoffTab, tr("Convert the model from MHA to every grouping: KV cache and decode time "
                                          "saved against output quality lost.<br><br>") +
                                           teach::meanPool());
    m_tabs->setTabToolTip(GroupingTab, teach::group());
    m_tabs->setTabToolTip(MemoryTab, teach::kvShrinks());
    m_tabs->setTabToolTip(LatencyTab, teach::flopsDoNot());
    cl->addWidget(m_tabs, 1);
    setCentralWidget(central);

    // Status area: messages, ceilings, busy indicator, cancel.
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("statusMessage"));
    m_status->setTextFormat(Qt::RichText);
    m_ceilings = new QLabel(this);
    m_ceilings->setToolTip(teach::roofline());
    m_busy = new QProgressBar(this);
    m_busy->setMaximumWidth(220);
    m_busy->setRange(0, 0);
    m_busy->setTextVisible(true);
    m_busy->hide();
    m_cancelRun = new QToolButton(this);
    m_cancelRun->setText(tr("Cancel run"));
    m_cancelRun->setIcon(actionIcon(QStringLiteral("cancel")));
    m_cancelRun->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_cancelRun->hide();
    m_modelStatus = new QLabel(this);
    m_modelStatus->setObjectName(QStringLiteral("modelStatus"));
    statusBar()->addWidget(m_modelStatus);
    statusBar()->addWidget(m_status, 1);
    statusBar()->addPermanentWidget(m_ceilings);
    statusBar()->addPermanentWidget(m_busy);
    statusBar()->addPermanentWidget(m_cancelRun);

    buildMenus();

    m_debounce.setSingleShot(true);
    m_debounce.setInterval(m_options.debounce_ms);
    m_analysisGrace.setSingleShot(true);
    m_analysisGrace.setInterval(kAnalysisGraceMs);
    m_poll.setInterval(100);
    m_tradeoffPoll.setInterval(100);

    connect(&m_debounce, &QTimer::timeout, this, &MainWindow::requestRunNow);
    connect(&m_analysisGrace, &QTimer::timeout, this, &MainWindow::applyAnalysisOnly);
    connect(&m_poll, &QTimer::timeout, this, &MainWindow::pollProgress);
    connect(m_panel, &ControlPanel::changed, this, &MainWindow::onControlsChanged);
    connect(m_attention, &AttentionView::mapsRequested, this, [this] { m_debounce.start(); });
    connect(m_cancelRun, &QToolButton::clicked, m_controller, &EngineController::cancelRun);
    connect(m_cancelRun, &QToolButton::clicked, m_controller, &EngineController::cancelModelLoad);
    connect(m_latency, &LatencyView::sweepRequested, this, &MainWindow::startSweep);
    connect(m_latency, &LatencyView::sweepCancelRequested, m_controller, &EngineController::cancelSweep);
    connect(&m_tradeoffPoll, &QTimer::timeout, this, &MainWindow::pollTradeoff);
    connect(m_tradeoff, &TradeoffView::sweepRequested, this, &MainWindow::startTradeoff);
    connect(m_tradeoff, &TradeoffView::cancelRequested, m_controller, &EngineController::cancelTradeoff);
    // A click on a point is a KV-head edit like any other: the panel emits changed(), the debounce runs it.
    connect(m_tradeoff, &TradeoffView::saveConvertedRequested, this,
            [this](const QString& dir, int64_t n_kv, ConvertMethod method) {
                SaveConvertedParams sp;
                sp.model = m_model;
                sp.n_kv_heads = n_kv;
                sp.method = method;
                sp.dir = dir;
                m_controller->requestSaveConverted(sp);
                m_status->setText(tr("Saving the model with %1 KV heads to %2…").arg(n_kv).arg(dir));
            });
    connect(m_controller, &EngineController::convertedModelSaved, this,
            [this](quint64, const QString& dir, qint64 n_kv) {
                m_tradeoff->onSaved(dir, n_kv);
                m_status->setText(tr("Saved the model with %1 KV heads to %2").arg(n_kv).arg(dir));
            });
    connect(m_controller, &EngineController::convertedModelSaveFailed, this,
            [this](quint64, const QString& dir, const QString& message) {
                m_tradeoff->onSaveFailed(dir, message);
                m_status->setText(tr("Could not save the converted model to %1: %2").arg(dir, message));
            });
    connect(m_tradeoff, &TradeoffView::kvHeadsChosen, this, [this](int64_t n_kv) { m_panel->setKvHeads(n_kv); });
    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int) {
        startTradeoffIfStale();
        startGroupingAnalysisIfStale();
    });
    connect(this, &MainWindow::runRequested, this, [this](quint64) {
        startTradeoffIfStale();
        startGroupingAnalysisIfStale();
    });
    // A head's row in the statistics opens that head's map.
    connect(m_headStats, &HeadStatsView::headActivated, this, [this](int layer, int head) {
        m_tabs->setCurrentIndex(AttentionTab);
        m_attention->setViewState(layer, AttentionView::Mode::SingleHead, head, m_attention->logScale(), false, 0);
    });
    connect(m_controller, &EngineController::groupingAnalysisAvailable, this,
            [this](quint64, const GroupingAnalysisPtr& a) {
                m_groupingAnalysis = a;
                m_headStats->setAnalysis(a->original);
                m_diversity->setAnalyses(a->original, a->converted, QString::fromLatin1(convertMethodName(a->method)));
                QStringList notes;
                for (const std::string& n : a->notes) notes << QString::fromStdString(n);
                if (!notes.isEmpty())
                    showStatus(tr("Head analysis: %1").arg(notes.join(QStringLiteral("; ")).toHtmlEscaped()));
            });
    connect(m_controller, &EngineController::groupingAnalysisFailed, this,
            [this](quint64, const QString& msg, bool cancelled) {
                m_groupingKey.clear();
                const QString why = cancelled ? tr("Cancelled.") : tr("Could not analyse: %1").arg(msg);
                m_headStats->clear(why);
                m_diversity->clear(why);
            });

    connect(m_controller, &EngineController::modelLoaded, this,
            [this](quint64, const ModelPtr& m, const QString& path) { onModelLoaded(m, path); });
    connect(m_controller, &EngineController::modelLoadFailed, this,
            [this](quint64, const QString& path, const QString& msg, bool cancelled) {
                onModelLoadFailed(path, msg, cancelled);
            });
    connect(m_controller, &EngineController::promptScoreAvailable, this, [this](quint64 id, double ppl) {
        if (id == m_requestId) m_prompt->setPerplexity(ppl);
    });
    connect(m_prompt, &PromptPanel::promptEdited, this, [this] {
        if (!m_model) return;
        m_panel->setPromptTokens(static_cast<int64_t>(m_prompt->tokens().size()));
        m_debounce.start();
    });
    connect(m_prompt, &PromptPanel::generateRequested, this, [this](int n) {
        m_panel->setDecodeSteps(n);  // emits changed(): the debounce runs it
        requestRunNow();
    });
    connect(m_controller, &EngineController::backendsAvailable, m_panel, &ControlPanel::setBackends);
    connect(m_controller, &EngineController::analysisAvailable, this, &MainWindow::onAnalysis);
    connect(m_controller, &EngineController::resultAvailable, this, &MainWindow::onResult);
    connect(m_controller, &EngineController::runFailed, this, &MainWindow::onRunFailed);
    connect(m_controller, &EngineController::busyChanged, this, &MainWindow::onBusyChanged);
    connect(m_controller, &EngineController::tokenGenerated, this, [this](quint64 id, qint64 step, qint32 token) {
        if (id == m_requestId && m_model) m_prompt->appendGeneratedToken(step, token);
    });
    connect(m_controller, &EngineController::sweepStarted, m_latency,
            [this](quint64, int total) { m_latency->onSweepStarted(total); });
    connect(m_controller, &EngineController::sweepPointAvailable, m_latency,
            [this](quint64, const SweepPoint& p, int done, int total) { m_latency->onSweepPoint(p, done, total); });
    connect(m_controller, &EngineController::sweepFinished, m_latency,
            [this](quint64) { m_latency->onSweepFinished(); });
    connect(m_controller, &EngineController::sweepFailed, m_latency,
            [this](quint64, const QString& msg, bool cancelled) {
                m_latency->onSweepFailed(msg, cancelled);
                if (!cancelled) showStatus(tr("Sweep failed: %1").arg(msg), true);
            });
    connect(m_controller, &EngineController::tradeoffAvailable, m_tradeoff,
            [this](quint64, const TradeoffOutcomePtr& outcome) {
                m_tradeoffPoll.stop();
                m_tradeoff->setOutcome(outcome);
            });
    connect(m_controller, &EngineController::tradeoffFailed, m_tradeoff,
            [this](quint64, const QString& msg, bool cancelled) {
                m_tradeoffPoll.stop();
                m_tradeoff->onFailed(msg, cancelled);
                if (!cancelled) showStatus(tr("Trade-off sweep failed: %1").arg(msg.toHtmlEscaped()), true);
            });

    resize(1500, 950);
    const bool restored = restoreFromSettings();
    if (!restored && !m_options.preset.isEmpty() && !m_panel->loadPreset(m_options.preset))
        showStatus(tr("Unknown preset \"%1\"; using the default.").arg(m_options.preset), true);
    m_grouping->setConfig(m_panel->config());
    m_tradeoff->setCurrentConfig(m_panel->config());
    updateWindowTitle();
    m_controller->requestBackends();
    requestRunNow();
    if (!m_options.model_path.isEmpty()) {
        m_pendingPrompt = m_options.prompt;
        openModel(m_options.model_path);
    }
}

MainWindow::~MainWindow() {
    m_closing = true;
}

QList<QCustomPlot*> MainWindow::plotsOfTab(int tab) const {
    switch (tab) {
        case AttentionTab: return m_attention->plots();
        case MemoryTab: return m_memory->plots();
        case LatencyTab: return m_latency->plots();
        case CompareTab: return m_compare->plots();
        case TradeoffTab: return m_tradeoff->plots();
        case HeadStatsTab: return m_headStats->plots();
        case DiversityTab: return m_diversity->plots();
        default: return {};
    }
}

QList<QCustomPlot*> MainWindow::visiblePlots() const {
    QList<QCustomPlot*> out;
    for (QCustomPlot* p : plotsOfTab(m_tabs->currentIndex()))
        if (p->isVisible()) out.push_back(p);
    return out;
}

RunParams MainWindow::currentParams() const {
    RunParams p;
    p.config = m_panel->config();
    p.shape = m_panel->shape();
    p.backend = m_panel->backend().toStdString();
    p.run_layers = m_panel->runLayers();
    p.map_layer = m_attention->layer();
    // Live edits stay interactive: the adaptive repeat policy, within a short budget (the CLI's default is 2 s).
    p.repeat.budget_ms = kLiveRepeatBudgetMs;
    if (m_model && m_panel->isRealModel()) {
        p.model = m_model;
        p.prompt_tokens = m_prompt->tokens();
        p.sampling = m_prompt->sampling();
        p.shape.prompt_len = static_cast<int64_t>(p.prompt_tokens.size());
        p.convert_method = m_tradeoff->method();
    }
    return p;
}

void MainWindow::dropModel() {
    m_model.reset();
    m_modelPath.clear();
    m_prompt->setTokenizer(nullptr);
}

void MainWindow::onControlsChanged() {
    // Nothing here needs the engine: the diagram and the kind label follow the controls at once.
    const ModelConfig cfg = m_panel->config();
    if (m_model && !m_panel->isRealModel()) dropModel();  // a preset was chosen: back to synthetic models
    m_grouping->setConfig(cfg);
    m_tradeoff->setCurrentConfig(cfg);
    updateWindowTitle();
    // Another model (not just another grouping or shape): the maps of the old one must not stay up under it.
    const ModelConfig* shown = m_result ? &m_result->config : (m_analysis ? &m_analysis->config : nullptr);
    if (shown && !sameModelShape(*shown, cfg)) {
        m_attention->showComputing(QString::fromStdString(cfg.name));
        m_latency->clearSweep();
    }
    m_debounce.start();
}

void MainWindow::requestRunNow() {
    m_debounce.stop();
    m_requestClock.start();
    m_pendingAnalysis.reset();
    m_analysisGrace.stop();
    m_requestDepthIsDefault = m_panel->runLayersIsDefault();
    m_requestId = m_controller->requestRun(currentParams());
    emit runRequested(m_requestId);
}

void MainWindow::startSweep() {
    RunParams p = currentParams();
    p.want_maps = false;
    m_controller->requestSweep(p);
    m_tabs->setCurrentIndex(LatencyTab);
}

TradeoffParams MainWindow::tradeoffParams() const {
    const RunParams live = currentParams();
    TradeoffParams p;
    p.config = live.config;
    p.model = live.model;
    p.shape = live.shape;
    p.backend = live.backend;
    p.max_layers = live.run_layers;  // never deeper than the live run
    p.method = m_tradeoff->method();
    p.both_methods = true;  // checkpoints: the paper's comparison of the two methods
    p.keep_maps = true;     // the view's maps come from the quality pass: one prefill per grouping
    p.attention_iterations = 10;
    // Interactive: a synthetic model sweeps from MHA on a short prompt; a checkpoint scores its prompt (or the
    // text the user picked) up to kTradeoffMaxTextTokens.
    p.max_decode_steps = kTradeoffMaxDecode;
    if (p.model) {
        p.quality_tokens = live.prompt_tokens;
        p.quality_text = m_tradeoff->qualityText().toStdString();
        if (!p.quality_text.empty()) p.quality_source = m_tradeoff->qualitySource().toStdString();
        p.max_quality_tokens = kTradeoffMaxTextTokens;
    } else {
        p.from_mha = true;
        p.shape.batch = 1;
        p.max_prompt_len = kTradeoffMaxPrompt;
    }
    return p;
}

void MainWindow::startTradeoff() {
    const TradeoffParams p = tradeoffParams();
    m_controller->requestTradeoff(p);
    m_tradeoff->onStarted(tradeoffKey(p));
    m_tradeoffPoll.start();
}

void MainWindow::startTradeoffIfStale() {
    // Only while the tab is on screen: the sweep costs a few runs and nobody looks at it elsewhere.
    if (m_closing || m_tabs->currentIndex() != TradeoffTab) return;
    if (tradeoffKey(tradeoffParams()) != m_tradeoff->requestedKey()) startTradeoff();
}

GroupingAnalysisRequest MainWindow::groupingParams() const {
    GroupingAnalysisRequest g;
    g.live = currentParams();
    g.live.want_maps = false;
    g.method = m_tradeoff->method();
    return g;
}

void MainWindow::startGroupingAnalysisIfStale() {
    // Only while one of its tabs is on screen: it prefills the model twice.
    const int tab = m_tabs->currentIndex();
    if (m_closing || (tab != HeadStatsTab && tab != DiversityTab)) return;
    const GroupingAnalysisRequest g = groupingParams();
    const ModelConfig& c = g.live.config;
    const QString key =
        QStringLiteral("%1|%2|%3|%4|%5|%6|%7|%8|%9|%10")
            .arg(QString::fromStdString(c.name))
            .arg(c.n_q_heads)
            .arg(c.n_kv_heads)
            .arg(c.n_layers)
            .arg(c.d_model)
            .arg(g.live.shape.prompt_len)
            .arg(g.live.run_layers)
            .arg(QString::fromLatin1(convertMethodName(g.method)))
            .arg(g.live.model
                     ? QString::fromStdString(g.live.model->source_path) +
                           QString::number(qHashRange(g.live.prompt_tokens.begin(), g.live.prompt_tokens.end()))
                     : QString())
            .arg(QString::fromStdString(c.windowText()));
    if (key == m_groupingKey) return;
    m_groupingKey = key;
    m_headStats->clear(tr("Computing the head statistics of %1…").arg(QString::fromStdString(c.name).toHtmlEscaped()));
    m_diversity->clear(tr("Computing the head diversity of %1 and of a coarser grouping…")
                           .arg(QString::fromStdString(c.name).toHtmlEscaped()));
    m_controller->requestGroupingAnalysis(g);
}

void MainWindow::pollTradeoff() {
    const auto [done, total] = m_controller->tradeoffProgress();
    m_tradeoff->setProgress(done, total);
}

void MainWindow::onAnalysis(quint64 id, const AnalysisPtr& analysis) {
    if (id != m_requestId) return;
    m_pendingAnalysis = analysis;
    if (analysis->run_pred_ms > kShowAnalysisFirstMs || m_requestClock.elapsed() > kAnalysisGraceMs)
        applyAnalysisOnly();
    else
        m_analysisGrace.start();
}

void MainWindow::applyAnalysisOnly() {
    if (!m_pendingAnalysis || m_pendingAnalysis == m_analysis) return;
    m_analysis = m_pendingAnalysis;
    m_result.reset();
    applyViews();
    emit analysisApplied(m_requestId);
}

void MainWindow::onResult(quint64 id, const RunResultPtr& result) {
    if (id != m_requestId) return;  // the controller drops stale results already; never let one through here
    m_analysisGrace.stop();
    if (m_pendingAnalysis) m_analysis = m_pendingAnalysis;
    m_result = result;
    m_shownId = id;
    applyViews();
    QString msg =
        tr("%1 · %2 · %3 of %4 layers on %5: prefill %6, decode %7 per token")
            .arg(QString::fromStdString(result->config.name), QString::fromStdString(result->config.attentionKind()))
            .arg(result->layers_run)
            .arg(result->config.n_layers)
            .arg(QString::fromStdString(result->device.name), msText(result->prefill.total_ms),
                 msText(result->decode.total_ms / std::max<double>(1.0, double(result->shape.decode_steps))));
    showStatus(msg);
    emit resultApplied(id);
}

void MainWindow::onRunFailed(quint64 id, const QString& message, bool cancelled) {
    if (id != m_requestId) return;
    m_analysisGrace.stop();
    applyAnalysisOnly();
    if (cancelled)
        showStatus(tr("Run cancelled — the views show the analytic picture only."));
    else
        showStatus(tr("Run failed: %1").arg(message.toHtmlEscaped()), true);
    emit runFailureShown(id, message);
}

void MainWindow::applyViews() {
    std::optional<Snapshot> live;
    if (m_analysis) live = makeSnapshot(*m_analysis, m_result.get());
    m_attention->setMapsNote(m_analysis ? QString::fromStdString(m_analysis->maps_note) : QString());
    if (m_result) {
        m_attention->setTokenPieces(m_model ? m_prompt->pieces(m_result.get()) : QStringList());
        m_attention->setResult(m_result);
        if (m_model) m_prompt->setResult(m_result);
    }
    m_memory->setData(m_analysis, m_result, m_pinned);
    m_latency->setData(m_analysis, m_result, m_pinned);
    m_compare->setData(live, m_pinned);
    m_pinAction->setEnabled(m_analysis != nullptr);
    if (m_analysis) {
        const Ceilings& c = m_analysis->ceilings;
        m_ceilings->setText(tr("roofline: %1 · %2 (%3)")
                                .arg(rateText(c.mem_bw_bytes_per_s, "B"), rateText(c.gemm_flops_per_s, "FLOP"),
                                     QString::fromStdString(c.provenance())));
    }
    updateBanner();
}

void MainWindow::updateBanner() {
    QStringList lines;
    if (m_result) {
        for (const std::string& n : m_result->notes) {
            QString line = QString::fromStdString(n);
            // The engine says "as requested"; when the app chose the depth for a big model, say so instead.
            if (m_requestDepthIsDefault)
                line.replace(QStringLiteral("(as requested)"),
                             tr("(the app's default depth for a model this size; set \"Layers to run\" to run more)"));
            lines << line.toHtmlEscaped();
        }
        if (m_result->layers_run < m_result->config.n_layers && m_result->notes.empty())
            lines << tr("The run used %1 of %2 layers; the Memory and Latency tabs show the whole model analytically.")
                         .arg(m_result->layers_run)
                         .arg(m_result->config.n_layers);
    } else if (m_analysis && !m_analysis->fit.fits) {
        lines << tr("The whole model does not fit (%1); running %2 of %3 layers.")
                     .arg(QString::fromStdString(m_analysis->fit.message).toHtmlEscaped())
                     .arg(m_analysis->layers_planned)
                     .arg(m_analysis->config.n_layers);
    }
    lines.removeDuplicates();
    m_banner->setText(lines.join(QStringLiteral("<br>")));
    m_banner->setVisible(!lines.isEmpty());
}

void MainWindow::onBusyChanged(bool busy) {
    if (busy) {
        m_busy->setRange(0, 0);
        m_busy->setFormat(tr("computing…"));
        m_busy->show();
        m_poll.start();
    } else {
        m_poll.stop();
        m_busy->hide();
        m_cancelRun->hide();
    }
}

void MainWindow::pollProgress() {
    const RunProgress p = m_controller->runProgress();
    const bool long_run =
        m_requestClock.elapsed() > kLongRunMs || (m_pendingAnalysis && m_pendingAnalysis->run_pred_ms > kLongRunMs);
    if (p.running && long_run && p.layers_done == 0) {
        // Synthetic weights are built before the first layer runs; that part reports no progress.
        m_busy->setRange(0, 0);
        m_busy->setFormat(tr("building weights…"));
        m_cancelRun->show();
    } else if (p.running && long_run && p.layers_total > 0) {
        m_busy->setRange(0, static_cast<int>(p.layers_total));
        m_busy->setValue(static_cast<int>(std::min(p.layers_done, p.layers_total)));
        const AnalysisPtr& a = m_pendingAnalysis ? m_pendingAnalysis : m_analysis;
        m_busy->setFormat(a ? progressFormat(a->layers_planned, a->shape.decode_steps) : tr("%v of %m"));
        m_cancelRun->show();
    } else if (m_controller->isSweeping() && !p.running) {
        m_busy->setRange(0, 0);
        m_busy->setFormat(tr("sweeping…"));
    }
}

void MainWindow::showStatus(const QString& text, bool error) {
    m_status->setText(error ? QStringLiteral("<span style='color:#b00020'><b>%1</b></span>").arg(text) : text);
}

QString MainWindow::statusText() const {
    return m_status->text();
}

}  // namespace gqa::ui
