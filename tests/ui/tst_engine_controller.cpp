// The controller and its worker thread, against the real engine: superseding, stale results dropped,
// cancellation, progress, errors as signals, and the KV-head sweep.
#include <QtTest>

#include "engine_controller.h"
#include "gqa/presets.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

RunParams teaching(int64_t prompt, int64_t decode, int64_t n_kv = 2) {
    RunParams p;
    p.config = findPreset("teaching").value();
    p.config.n_kv_heads = n_kv;
    p.shape = {1, prompt, decode};
    p.backend = "cpu";
    return p;
}

// A run long enough to be caught in flight on 2 cores: deep, long prompt, many steps, no maps.
RunParams slow() {
    RunParams p = teaching(384, 96);
    p.config.n_layers = 16;
    p.want_maps = false;
    return p;
}

constexpr int kTimeoutMs = 120000;

}  // namespace

class TestEngineController : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { registerMetaTypes(); }

    void resultArrivesWithItsId() {
        ThreadedEngineController c;
        QSignalSpy analysis(&c, &EngineController::analysisAvailable);
        QSignalSpy results(&c, &EngineController::resultAvailable);
        QSignalSpy busy(&c, &EngineController::busyChanged);
        const quint64 id = c.requestRun(teaching(16, 4));
        QVERIFY(c.isBusy());
        QTRY_COMPARE_WITH_TIMEOUT(results.count(), 1, kTimeoutMs);
        QCOMPARE(results.at(0).at(0).value<quint64>(), id);
        QCOMPARE(analysis.count(), 1);
        const auto r = results.at(0).at(1).value<RunResultPtr>();
        QCOMPARE(r->config.n_kv_heads, int64_t{2});
        QCOMPARE(r->layers_run, int64_t{4});
        // Maps of every layer (they fit the budget), prompt and each decode step.
        QCOMPARE(r->prompt_maps.size(), size_t{4});
        QCOMPARE(r->decode_maps.size(), size_t{4});
        QVERIFY(!c.isBusy());
        QCOMPARE(busy.count(), 2);
    }

    void queuedRequestIsReplaced() {
        ThreadedEngineController c;
        QSignalSpy results(&c, &EngineController::resultAvailable);
        QSignalSpy failures(&c, &EngineController::runFailed);
        // Three requests in a row: only the newest may ever reach the GUI.
        c.requestRun(teaching(16, 2, 1));
        c.requestRun(teaching(16, 2, 8));
        const quint64 last = c.requestRun(teaching(16, 2, 4));
        QTRY_COMPARE_WITH_TIMEOUT(results.count(), 1, kTimeoutMs);
        QTest::qWait(300);
        QCOMPARE(results.count(), 1);
        QCOMPARE(results.at(0).at(0).value<quint64>(), last);
        QCOMPARE(results.at(0).at(1).value<RunResultPtr>()->config.n_kv_heads, int64_t{4});
        QCOMPARE(failures.count(), 0);
    }

    void staleResultNeverOverwritesNewer() {
        ThreadedEngineController c;
        QSignalSpy results(&c, &EngineController::resultAvailable);
        const quint64 first = c.requestRun(slow());
        // Wait until the first run is really running on the worker, then supersede it.
        QTRY_VERIFY_WITH_TIMEOUT(c.runProgress().running && c.runProgress().layers_done > 0, kTimeoutMs);
        const quint64 second = c.requestRun(teaching(16, 2, 1));
        QVERIFY(second > first);
        QTRY_COMPARE_WITH_TIMEOUT(results.count(), 1, kTimeoutMs);
        QTest::qWait(300);
        QCOMPARE(results.count(), 1);
        QCOMPARE(results.at(0).at(0).value<quint64>(), second);
        QCOMPARE(results.at(0).at(1).value<RunResultPtr>()->config.n_kv_heads, int64_t{1});
    }

    void lateResultOfOldRequestIsDropped() {
        // The worker finishes the old run before it sees the cancel flag: its result still must not pass.
        ThreadedEngineController c;
        QSignalSpy results(&c, &EngineController::resultAvailable);
        c.requestRun(teaching(16, 1, 2));
        // Let the worker start (and probably finish) the first run before the second request exists.
        QTest::qWait(0);
        QThread::msleep(400);
        const quint64 second = c.requestRun(teaching(16, 1, 8));
        QTRY_COMPARE_WITH_TIMEOUT(results.count(), 1, kTimeoutMs);
        QTest::qWait(300);
        QCOMPARE(results.count(), 1);
        QCOMPARE(results.at(0).at(0).value<quint64>(), second);
        QCOMPARE(results.at(0).at(1).value<RunResultPtr>()->config.n_kv_heads, int64_t{8});
        QVERIFY(c.droppedStaleResults() <= 1);
    }

    void progressAndCancel() {
        ThreadedEngineController c;
        QSignalSpy failures(&c, &EngineController::runFailed);
        QSignalSpy results(&c, &EngineController::resultAvailable);
        QSignalSpy analysis(&c, &EngineController::analysisAvailable);
        const RunParams p = slow();
        const quint64 id = c.requestRun(p);
        QTRY_VERIFY_WITH_TIMEOUT(c.runProgress().layers_done > 0, kTimeoutMs);
        const RunProgress prog = c.runProgress();
        QCOMPARE(prog.id, id);
        // layers_done counts layers across prefill and every decode step.
        QCOMPARE(prog.layers_total, p.config.n_layers * (1 + p.shape.decode_steps));
        QCOMPARE(analysis.count(), 1);
        c.cancelRun();
        QTRY_COMPARE_WITH_TIMEOUT(failures.count(), 1, kTimeoutMs);
        QCOMPARE(failures.at(0).at(0).value<quint64>(), id);
        QCOMPARE(failures.at(0).at(2).toBool(), true);  // cancelled, not an error
        QCOMPARE(results.count(), 0);
        QVERIFY(!c.isBusy());
    }

    void errorsAreSignalsNotCrashes_data() {
        QTest::addColumn<int>("n_kv");
        QTest::addColumn<QString>("backend");
        QTest::addColumn<int>("prompt");
        QTest::addColumn<QString>("words");
        QTest::newRow("KV heads not dividing") << 3 << "cpu" << 16 << "multiple";
        QTest::newRow("prompt beyond max_seq") << 2 << "cpu" << 5000 << "max_seq";
        QTest::newRow("unknown backend") << 2 << "tpu" << 16 << "tpu";
    }
    void errorsAreSignalsNotCrashes() {
        QFETCH(int, n_kv);
        QFETCH(QString, backend);
        QFETCH(int, prompt);
        QFETCH(QString, words);
        ThreadedEngineController c;
        QSignalSpy failures(&c, &EngineController::runFailed);
        RunParams p = teaching(prompt, 2, n_kv);
        p.backend = backend.toStdString();
        c.requestRun(p);
        QTRY_COMPARE_WITH_TIMEOUT(failures.count(), 1, kTimeoutMs);
        const QString message = failures.at(0).at(1).toString();
        QVERIFY2(message.contains(words, Qt::CaseInsensitive), qPrintable(message));
        QCOMPARE(failures.at(0).at(2).toBool(), false);
    }

    void backendsProbed() {
        ThreadedEngineController c;
        QSignalSpy spy(&c, &EngineController::backendsAvailable);
        c.requestBackends();
        QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 1, kTimeoutMs);
        const auto list = spy.at(0).at(0).value<QVector<BackendChoice>>();
        QCOMPARE(list.size(), 2);
        QCOMPARE(list[0].name, QStringLiteral("cpu"));
        QVERIFY(list[0].available);
        QCOMPARE(list[1].name, QStringLiteral("cuda"));
        if (!list[1].available) QVERIFY(!list[1].reason.isEmpty());
    }

    void sweepReportsEveryPoint() {
        ThreadedEngineController c;
        QSignalSpy started(&c, &EngineController::sweepStarted);
        QSignalSpy points(&c, &EngineController::sweepPointAvailable);
        QSignalSpy finished(&c, &EngineController::sweepFinished);
        RunParams p = teaching(16, 4);
        const quint64 id = c.requestSweep(p);
        QVERIFY(c.isSweeping());
        QCOMPARE(started.count(), 1);
        QCOMPARE(started.at(0).at(1).toInt(), 4);  // 8 query heads: n_kv in {1, 2, 4, 8}
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
        QCOMPARE(finished.at(0).at(0).value<quint64>(), id);
        QCOMPARE(points.count(), 4);
        const int64_t expect_kv[] = {1, 2, 4, 8};
        const ModelConfig cfg = p.config;
        for (int i = 0; i < 4; ++i) {
            const auto pt = points.at(i).at(1).value<SweepPoint>();
            QCOMPARE(points.at(i).at(2).toInt(), i + 1);  // done
            QCOMPARE(points.at(i).at(3).toInt(), 4);      // total
            QCOMPARE(pt.n_kv_heads, expect_kv[i]);
            QCOMPARE(pt.group_size, 8 / expect_kv[i]);
            // KV bytes from the published formula: 2 * layers * batch * seq * n_kv * head_dim * bytes.
            const int64_t want = 2 * cfg.n_layers * 1 * (16 + 4) * expect_kv[i] * cfg.head_dim * 2;
            QCOMPARE(pt.kv_cache_bytes, want);
            QVERIFY(pt.decode_ms_per_token > 0.0);
        }
        QVERIFY(!c.isSweeping());
    }

    void sweepCanBeCancelled() {
        ThreadedEngineController c;
        QSignalSpy points(&c, &EngineController::sweepPointAvailable);
        QSignalSpy failed(&c, &EngineController::sweepFailed);
        QSignalSpy finished(&c, &EngineController::sweepFinished);
        RunParams p = slow();
        p.config.n_q_heads = 16;  // 5 points
        p.config.d_model = 16 * p.config.head_dim;
        connect(&c, &EngineController::sweepPointAvailable, &c, [&c](quint64, const SweepPoint&, int done, int) {
            if (done == 1) c.cancelSweep();
        });
        c.requestSweep(p);
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
        QCOMPARE(failed.at(0).at(2).toBool(), true);
        QCOMPARE(finished.count(), 0);
        QVERIFY2(points.count() >= 1 && points.count() < 5, qPrintable(QString::number(points.count())));
        QVERIFY(!c.isSweeping());
    }

    void runsKeepWorkingDuringASweep() {
        ThreadedEngineController c;
        QSignalSpy results(&c, &EngineController::resultAvailable);
        QSignalSpy finished(&c, &EngineController::sweepFinished);
        c.requestSweep(teaching(16, 4));
        const quint64 id = c.requestRun(teaching(16, 2, 8));
        QTRY_COMPARE_WITH_TIMEOUT(results.count(), 1, kTimeoutMs);
        QCOMPARE(results.at(0).at(0).value<quint64>(), id);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    }
};

QTEST_MAIN(TestEngineController)
#include "tst_engine_controller.moc"
