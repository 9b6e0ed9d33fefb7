// Timings users can trust: repeated measurement summarized as a median with its spread, a repeat policy that
// stops when the median is stable, and a note when the machine was busy while measuring.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gqa {

// Median and spread of repeated measurements of one quantity (milliseconds).
struct TimingStats {
    double median_ms = 0.0;
    double min_ms = 0.0, max_ms = 0.0;
    double q1_ms = 0.0, q3_ms = 0.0;  // quartiles (linear interpolation between order statistics)
    int repeats = 0;
    // True when [min, max] of a and b overlap: the two cannot be told apart at this repeat count.
    bool overlaps(const TimingStats& o) const { return min_ms <= o.max_ms && o.min_ms <= max_ms; }
};
TimingStats summarize(std::vector<double> samples_ms);

// How many times to measure. repeats > 0: exactly that many timed repeats after `warmup` untimed ones.
// repeats == 0 (adaptive): warm up once, then at least min_repeats and at most max_repeats, stopping when the
// median of the last two additions moved by less than `stable_fraction`, or when budget_ms of measuring is spent.
struct RepeatPolicy {
    int repeats = 0;
    int warmup = 1;
    int min_repeats = 3;
    int max_repeats = 15;
    double budget_ms = 2000.0;
    double stable_fraction = 0.02;
};

// Drives a repeated measurement: call measure() with each sample; keepGoing() says whether to measure again.
class Repeater {
public:
    explicit Repeater(const RepeatPolicy& p) : m_p(p) {}
    // True while another (warm-up or timed) repeat should run.
    bool keepGoing() const;
    // Whether the next run is a warm-up (its sample is dropped).
    bool warmingUp() const { return m_warmups < warmupsPlanned(); }
    void add(double ms);
    const std::vector<double>& samples() const { return m_samples; }

private:
    int warmupsPlanned() const;
    RepeatPolicy m_p;
    int m_warmups = 0;
    double m_first_ms = -1.0;
    double m_spent_ms = 0.0;
    std::vector<double> m_samples;
    std::vector<double> m_medians;
};

// System-wide CPU activity between two points in time, from /proc/stat and /proc/loadavg.
struct LoadSample {
    uint64_t busy = 0, steal = 0, total = 0;  // jiffies since boot, all CPUs (/proc/stat)
    int procs_running = 0;                    // runnable threads on the machine (/proc/stat)
    int self_running = -1;                    // of them ours (OpenMP, OpenBLAS's own pool, the caller); -1 = not known
    bool valid = false;
};
LoadSample sampleLoad();
// A sentence when the machine was busy during [before, after], else empty: runnable threads beyond our own at
// both samples (one instant alone catches kernel threads; ours are self_running, or `threads` where that is not
// known), CPU steal by the hypervisor. (Busy CPU time less our own was tried and read 20% "others" on an idle
// VM: per-process and per-CPU times are accounted differently.)
std::string busyNote(const LoadSample& before, const LoadSample& after, int threads);

}  // namespace gqa
