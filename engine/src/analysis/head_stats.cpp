// Per-head statistics of attention maps: entropy, mean distance, sink / previous-token / local / long-range mass.
#include <algorithm>
#include <cmath>

#include "gqa/analysis.h"

namespace gqa {

RowStats rowStatistics(const float* p, int64_t n, int64_t i, const StatsOptions& o) {
    RowStats s;
    for (int64_t j = 0; j < n; ++j) {
        const double x = p[j];
        if (x <= 0.0) continue;
        const int64_t dist = i - j;
        s.entropy_bits -= x * std::log2(x);
        s.mean_distance += x * static_cast<double>(dist);
        if (j == 0) s.sink_mass += x;
        if (dist == 1) s.prev_token_mass += x;
        if (dist < o.local_window) s.local_mass += x;
        if (dist > o.long_distance) s.long_range_mass += x;
    }
    return s;
}

std::vector<HeadStats> headStatistics(const LayerMaps& m, int64_t group_size, const StatsOptions& o) {
    std::vector<HeadStats> out;
    const int64_t off = m.kv_len - m.q_len;  // row r is query position off + r
    for (size_t hi = 0; hi < m.heads.size(); ++hi) {
        HeadStats h;
        h.head = m.heads[hi];
        h.kv_head = group_size > 0 ? h.head / group_size : 0;
        for (int64_t b = 0; b < m.batch; ++b)
            for (int64_t r = 0; r < m.q_len; ++r) {
                const int64_t i = off + r;
                if (i < o.first_row) continue;
                const float* row = &m.probs[static_cast<size_t>(
                    ((b * static_cast<int64_t>(m.heads.size()) + static_cast<int64_t>(hi)) * m.q_len + r) * m.kv_len)];
                const RowStats s = rowStatistics(row, std::min(m.kv_len, i + 1), i, o);
                h.mean.entropy_bits += s.entropy_bits;
                h.mean.mean_distance += s.mean_distance;
                h.mean.sink_mass += s.sink_mass;
                h.mean.prev_token_mass += s.prev_token_mass;
                h.mean.local_mass += s.local_mass;
                h.mean.long_range_mass += s.long_range_mass;
                ++h.rows;
            }
        if (h.rows > 0) {
            const double n = static_cast<double>(h.rows);
            h.mean.entropy_bits /= n;
            h.mean.mean_distance /= n;
            h.mean.sink_mass /= n;
            h.mean.prev_token_mass /= n;
            h.mean.local_mass /= n;
            h.mean.long_range_mass /= n;
        }
        out.push_back(h);
    }
    return out;
}

std::vector<double> massBeyond(const LayerMaps& m, const std::vector<int64_t>& distances, int64_t first_row) {
    std::vector<double> out(distances.size(), 0.0);
    const int64_t off = m.kv_len - m.q_len, nh = static_cast<int64_t>(m.heads.size());
    int64_t rows = 0;
    for (int64_t b = 0; b < m.batch; ++b)
        for (int64_t hi = 0; hi < nh; ++hi)
            for (int64_t r = 0; r < m.q_len; ++r) {
                const int64_t i = off + r;
                if (i < first_row) continue;
                const float* row = &m.probs[static_cast<size_t>(((b * nh + hi) * m.q_len + r) * m.kv_len)];
                // Cumulative mass from the oldest key: mass beyond d = sum of p_j for j < i - d.
                for (size_t k = 0; k < distances.size(); ++k) {
                    const int64_t jmax = std::min(m.kv_len, i - distances[k]);  // keys j < jmax have i - j > d
                    double s = 0.0;
                    for (int64_t j = 0; j < jmax; ++j) s += row[j];
                    out[k] += s;
                }
                ++rows;
            }
    if (rows > 0)
        for (auto& x : out) x /= static_cast<double>(rows);
    return out;
}

std::vector<int64_t> defaultDistances(int64_t context) {
    std::vector<int64_t> d = {0};
    for (int64_t x = 1; x < context; x *= 2) d.push_back(x);
    return d;
}

}  // namespace gqa
