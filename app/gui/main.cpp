// gqa-lab: the desktop app. Everything lives in ui/ (gqa_ui); this only parses the command line.
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QTimer>

#include <cstdio>

#include "gqa/presets.h"
#include "icons.h"
#include "main_window.h"
#include "screenshot_runner.h"
#include "ui_bench.h"

int main(int argc, char** argv) {
    // Headless modes (and --help) work without a display: they render offscreen unless told otherwise.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY") &&
        qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")) {
        for (int i = 1; i < argc; ++i) {
            const QByteArray a(argv[i]);
            if (a == "--screenshot" || a.startsWith("--screenshot=") || a == "--bench-ui" ||
                a.startsWith("--bench-ui=") || a == "--help" || a == "-h" || a == "--version" || a == "-v") {
                qputenv("QT_QPA_PLATFORM", "offscreen");
                break;
            }
        }
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("gqa-lab"));
    QApplication::setOrganizationName(QStringLiteral("GQA Lab"));
    QApplication::setApplicationDisplayName(QStringLiteral("GQA Lab"));
    QApplication::setApplicationVersion(QStringLiteral("0.1.0"));
    QApplication::setDesktopFileName(QStringLiteral("gqa-lab"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "GQA Lab: explore grouped-query attention. Change query heads, KV heads and depth and watch the attention "
        "maps, the KV cache and the latency follow."));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption preset({QStringLiteral("p"), QStringLiteral("preset")},
                              QStringLiteral("Start with this preset (%1).").arg(QString::fromStdString([] {
                                  std::string s;
                                  for (const auto& n : gqa::presetNames()) s += (s.empty() ? "" : ", ") + n;
                                  return s;
                              }())),
                              QStringLiteral("name"));
    QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                  QStringLiteral("Render every view with the default preset, write one PNG per view "
                                                 "into DIR and exit."),
                                  QStringLiteral("DIR"));
    QCommandLineOption bench(QStringLiteral("bench-ui"),
                             QStringLiteral("Drive the window with N KV-head changes per view, print the median time "
                                            "from debounce to repaint and a 2048x2048 heatmap repaint time, and exit."),
                             QStringLiteral("N"));
    QCommandLineOption model(QStringLiteral("model"),
                             QStringLiteral("Open this checkpoint: a Hugging Face directory or a .gguf file."),
                             QStringLiteral("PATH"));
    QCommandLineOption prompt(QStringLiteral("prompt"), QStringLiteral("The prompt for --model."),
                              QStringLiteral("TEXT"));
    QCommandLineOption fresh(QStringLiteral("fresh"),
                             QStringLiteral("Ignore the remembered session and window state."));
    parser.addOptions({preset, model, prompt, screenshot, bench, fresh});
    parser.process(app);

    gqa::ui::MainWindowOptions options;
    const bool scripted = parser.isSet(screenshot) || parser.isSet(bench);
    // Scripted modes start from the defaults and leave the user's settings alone.
    options.use_settings = !scripted;
    options.restore_session = !parser.isSet(fresh);
    options.preset = parser.value(preset);
    options.model_path = parser.value(model);
    options.prompt = parser.value(prompt);
    if (!options.model_path.isEmpty() && !QFileInfo::exists(options.model_path)) {
        std::fprintf(stderr, "gqa-lab: error: no model at '%s'\n", qPrintable(options.model_path));
        return 2;
    }
    if (!options.preset.isEmpty()) {
        if (!gqa::findPreset(options.preset.toStdString())) {
            std::fprintf(stderr, "gqa-lab: error: unknown preset '%s'\n", qPrintable(options.preset));
            return 2;
        }
    }

    gqa::ui::MainWindow window(options);
    if (scripted) window.resize(1600, 1000);
    window.show();

    if (parser.isSet(screenshot)) {
        auto* runner = new gqa::ui::ScreenshotRunner(&window, parser.value(screenshot), &window);
        QObject::connect(runner, &gqa::ui::ScreenshotRunner::finished, &app,
                         [](int code) { QApplication::exit(code); });
        runner->start();
    } else if (parser.isSet(bench)) {
        bool ok = false;
        const int n = parser.value(bench).toInt(&ok);
        if (!ok || n < 1) {
            std::fprintf(stderr, "gqa-lab: error: --bench-ui needs a positive count\n");
            return 2;
        }
        auto* runner = new gqa::ui::UiBench(&window, n, &window);
        QObject::connect(runner, &gqa::ui::UiBench::finished, &app, [](int code) { QApplication::exit(code); });
        runner->start();
    }
    return QApplication::exec();
}
