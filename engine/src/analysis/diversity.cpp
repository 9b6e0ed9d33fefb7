// Pairwise Jensen–Shannon divergence of the query heads' maps, ordered by KV group, with the means inside and
// between groups: how alike the heads that share one K/V head attend.
#include <algorithm>

#include "gqa/analysis.h"

namespace gqa {

GroupDiversity groupDiversity(const LayerMaps& m, int64_t group_size, int64_t first_row) {
    GroupDiversity d;
    const int64_t nh = static_cast<int64_t>(m.heads.size());
    // Heads held in ascending order are already ordered by group (group = h / g).
    d.heads = m.heads;
    std::sort(d.heads.begin(), d.heads.end());
    std::vector<int64_t> idx(static_cast<size_t>(nh));  // position of each ordered head in m.heads
    for (int64_t a = 0; a < nh; ++a)
        idx[static_cast<size_t>(a)] =
            std::find(m.heads.begin(), m.heads.end(), d.heads[static_cast<size_t>(a)]) - m.heads.begin();
    for (int64_t h : d.heads) d.kv_head.push_back(group_size > 0 ? h / group_size : 0);
    d.js_bits.assign(static_cast<size_t>(nh * nh), 0.0);
    const int64_t off = m.kv_len - m.q_len;
    auto row = [&](int64_t b, int64_t hi, int64_t r) {
        return &m.probs[static_cast<size_t>(((b * nh + hi) * m.q_len + r) * m.kv_len)];
    };
    double within = 0.0, between = 0.0;
    int64_t n_within = 0, n_between = 0;
    for (int64_t a = 0; a < nh; ++a)
        for (int64_t c = a + 1; c < nh; ++c) {
            double sum = 0.0;
            int64_t rows = 0;
            for (int64_t b = 0; b < m.batch; ++b)
                for (int64_t r = 0; r < m.q_len; ++r) {
                    if (off + r < first_row) continue;
                    sum += jsDivergenceBits(row(b, idx[static_cast<size_t>(a)], r),
                                            row(b, idx[static_cast<size_t>(c)], r), m.kv_len);
                    ++rows;
                }
            const double js = rows > 0 ? sum / static_cast<double>(rows) : 0.0;
            d.js_bits[static_cast<size_t>(a * nh + c)] = d.js_bits[static_cast<size_t>(c * nh + a)] = js;
            if (d.kv_head[static_cast<size_t>(a)] == d.kv_head[static_cast<size_t>(c)]) {
                within += js;
                ++n_within;
            } else {
                between += js;
                ++n_between;
            }
        }
    if (n_within > 0) d.mean_within_bits = within / static_cast<double>(n_within);
    if (n_between > 0) d.mean_between_bits = between / static_cast<double>(n_between);
    return d;
}

}  // namespace gqa
