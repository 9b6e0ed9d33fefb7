#include "gqa/timing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gqa {

namespace {
double quantile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0.0;
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}
}  // namespace

TimingStats summarize(std::vector<double> s) {
    TimingStats t;
    t.repeats = static_cast<int>(s.size());
    if (s.empty()) return t;
    std::sort(s.begin(), s.end());
    t.min_ms = s.front();
    t.max_ms = s.back();
    t.median_ms = quantile(s, 0.5);
    t.q1_ms = quantile(s, 0.25);
    t.q3_ms = quantile(s, 0.75);
    return t;
}

int Repeater::warmupsPlanned() const {
    if (m_p.repeats > 0) return m_p.warmup;
    // Adaptive: one warm-up, unless that first run alone took most of the budget.
    if (m_warmups == 0) return 1;
    return m_first_ms > 0.5 * m_p.budget_ms ? m_warmups : 1;
}

bool Repeater::keepGoing() const {
    if (warmingUp()) return true;
    const int n = static_cast<int>(m_samples.size());
    if (m_p.repeats > 0) return n < m_p.repeats;
    if (n == 0) return true;
    // A run that alone takes most of the budget is measured once (the warm-up counted as the sample).
    if (n >= 1 && m_first_ms > 0.5 * m_p.budget_ms) return false;
    if (n >= m_p.max_repeats || m_spent_ms >= m_p.budget_ms) return n < 1;
    if (n < m_p.min_repeats) return true;
    const size_t k = m_medians.size();
    if (k >= 3) {
        const double a = m_medians[k - 1], b = m_medians[k - 2], c = m_medians[k - 3];
        const double tol = m_p.stable_fraction * a;
        if (std::fabs(a - b) <= tol && std::fabs(a - c) <= tol) return false;
    }
    return true;
}

void Repeater::add(double ms) {
    m_spent_ms += ms;
    if (m_first_ms < 0) m_first_ms = ms;
    if (warmingUp()) {
        ++m_warmups;
        // A warm-up that took most of the budget is kept: it will be the only sample.
        if (m_p.repeats == 0 && ms > 0.5 * m_p.budget_ms) m_samples.push_back(ms);
        return;
    }
    m_samples.push_back(ms);
    std::vector<double> s = m_samples;
    std::sort(s.begin(), s.end());
    m_medians.push_back(quantile(s, 0.5));
}

LoadSample sampleLoad() {
    LoadSample l;
    std::ifstream f("/proc/stat");
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        std::string key;
        ss >> key;
        if (key == "cpu") {
            uint64_t v[8] = {};
            for (auto& x : v) ss >> x;
            // user nice system idle iowait irq softirq steal
            l.busy = v[0] + v[1] + v[2] + v[5] + v[6];
            l.steal = v[7];
            l.total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
            l.valid = true;
        } else if (key == "procs_running") {
            ss >> l.procs_running;
        }
    }
    // Our own runnable threads: OpenBLAS keeps a pool of its own beside OpenMP's, and its workers spin for a
    // while after each call, so `threads` alone undercounts them.
    std::error_code ec;
    int running = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        std::ifstream t(task.path() / "stat");
        std::string line;
        std::getline(t, line);
        const auto close = line.rfind(')');
        if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'R') ++running;
    }
    if (!ec) l.self_running = running;
    return l;
}

std::string busyNote(const LoadSample& a, const LoadSample& b, int threads) {
    if (!a.valid || !b.valid || b.total <= a.total) return {};
    const double total = static_cast<double>(b.total - a.total);
    const double steal = static_cast<double>(b.steal - a.steal) / total;
    std::string note;
    char buf[160];
    // procs_running counts this process's runnable threads too, and catches kernel threads at one instant:
    // only what both samples saw counts.
    auto others_at = [threads](const LoadSample& s) {
        return s.procs_running - (s.self_running >= 0 ? s.self_running : threads);
    };
    const int others = std::min(others_at(a), others_at(b));
    if (others > 0) {
        std::snprintf(buf, sizeof buf, "%d other runnable process%s on the machine while measuring", others,
                      others == 1 ? "" : "es");
        note = buf;
    }
    if (steal > 0.02) {
        std::snprintf(buf, sizeof buf, "%s%.0f%% of CPU time stolen by the hypervisor", note.empty() ? "" : "; ",
                      100.0 * steal);
        note += buf;
    }
    if (!note.empty()) note = "machine busy: " + note + " — timings may be slower and noisier than on a quiet machine";
    return note;
}

}  // namespace gqa
