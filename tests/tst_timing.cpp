// The repeat policy and the statistics behind every reported time, on samples whose answers are known.
#include <QtTest>

#include "gqa/timing.h"

using namespace gqa;

class TestTiming : public QObject {
    Q_OBJECT
private slots:
    void summarizeKnownSamples() {
        const TimingStats odd = summarize({3.0, 1.0, 2.0});
        QCOMPARE(odd.repeats, 3);
        QCOMPARE(odd.median_ms, 2.0);
        QCOMPARE(odd.min_ms, 1.0);
        QCOMPARE(odd.max_ms, 3.0);
        QCOMPARE(odd.q1_ms, 1.5);  // linear interpolation between order statistics
        QCOMPARE(odd.q3_ms, 2.5);
        const TimingStats even = summarize({4.0, 1.0, 3.0, 2.0});
        QCOMPARE(even.median_ms, 2.5);
        QCOMPARE(even.q1_ms, 1.75);
        QCOMPARE(even.q3_ms, 3.25);
        const TimingStats one = summarize({7.0});
        QCOMPARE(one.median_ms, 7.0);
        QCOMPARE(one.q1_ms, 7.0);
        QCOMPARE(summarize({}).repeats, 0);
    }

    void overlapSaysWhenTwoTimesCannotBeToldApart() {
        const TimingStats a = summarize({10.0, 11.0, 12.0}), b = summarize({11.5, 13.0}), c = summarize({12.5, 14.0});
        QVERIFY(a.overlaps(b) && b.overlaps(a));
        QVERIFY(!a.overlaps(c) && !c.overlaps(a));
    }

    void fixedRepeatsAfterWarmup() {
        RepeatPolicy p;
        p.repeats = 5;
        p.warmup = 2;
        Repeater r(p);
        int runs = 0;
        while (r.keepGoing()) r.add(1.0 + runs++);
        QCOMPARE(runs, 7);
        QCOMPARE(r.samples(), (std::vector<double>{3, 4, 5, 6, 7}));  // the two warm-ups dropped
    }

    void adaptiveStopsWhenTheMedianIsStable() {
        Repeater r(RepeatPolicy{});
        int runs = 0;
        while (r.keepGoing()) {
            r.add(10.0);
            ++runs;
        }
        QCOMPARE(runs, 1 + 3);  // one warm-up, then the minimum of 3 with a median that does not move
        QCOMPARE(r.samples().size(), size_t(3));
    }

    void adaptiveKeepsMeasuringNoisySamplesUpToTheCap() {
        RepeatPolicy p;
        p.budget_ms = 1e9;
        Repeater r(p);
        int runs = 0;
        while (r.keepGoing()) r.add(runs++ % 2 ? 1.0 : 100.0);  // a median that keeps jumping
        QCOMPARE(static_cast<int>(r.samples().size()), p.max_repeats);
    }

    void adaptiveMeasuresASlowRunOnce() {
        Repeater r(RepeatPolicy{});  // budget 2000 ms
        int runs = 0;
        while (r.keepGoing()) {
            r.add(1500.0);
            ++runs;
        }
        QCOMPARE(runs, 1);
        QCOMPARE(r.samples(), std::vector<double>{1500.0});
    }

    void busyNoteCountsOtherProcessesAndSteal() {
        LoadSample a, b;
        a.valid = b.valid = true;
        a.total = 1000;
        b.total = 2000;
        a.procs_running = 2;
        b.procs_running = 2;
        QVERIFY(busyNote(a, b, 2).empty());  // only our own two threads ran
        b.procs_running = 5;
        QVERIFY(busyNote(a, b, 2).empty());  // one sample's extra runnable threads (kernel threads, a blip)
        a.procs_running = 5;
        QVERIFY(busyNote(a, b, 2).find("3 other runnable processes") != std::string::npos);
        // Runnable threads of our own beyond `threads` (OpenBLAS's pool): counted as ours when known.
        a.procs_running = b.procs_running = 3;
        a.self_running = b.self_running = 3;
        QVERIFY(busyNote(a, b, 2).empty());
        a.self_running = b.self_running = -1;
        a.procs_running = b.procs_running = 2;
        a.steal = 0;
        b.steal = 100;  // 10 % of the interval
        QVERIFY(busyNote(a, b, 2).find("10% of CPU time stolen") != std::string::npos);
    }

    // The live sample counts this process's own runnable threads: at least this one, reading its own stat.
    void sampleLoadCountsOwnThreads() {
        const LoadSample s = sampleLoad();
        QVERIFY(s.valid);
        QVERIFY(s.self_running >= 1);
        // The reading thread is runnable when /proc/stat is read. No relation between the two counts is checked:
        // they are read at different instants, and Qt Test's watchdog thread may wake in between (a CI run saw
        // self_running > procs_running); busyNote only counts what both samples agree on, never below 0.
        QVERIFY(s.procs_running >= 1);
    }
};

QTEST_APPLESS_MAIN(TestTiming)
#include "tst_timing.moc"
