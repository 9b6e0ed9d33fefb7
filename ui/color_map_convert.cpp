#include "color_map_convert.h"

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace gqa::ui {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double shown(double w, MapScale scale) {
    return scale == MapScale::Log ? std::max(w, kLogFloor) : w;
}

// Bottom-right aligned causal mask (backend.h): query i of Tq sees key j when j <= i + Tk - Tq.
bool visible(int64_t i, int64_t j, int64_t q_len, int64_t kv_len) {
    return j <= i + kv_len - q_len;
}

}  // namespace

const LayerMaps* findLayerMaps(const std::vector<LayerMaps>& maps, int64_t layer) {
    for (const LayerMaps& m : maps)
        if (m.layer == layer) return &m;
    return nullptr;
}

int64_t headIndex(const LayerMaps& maps, int64_t q_head) {
    const auto it = std::find(maps.heads.begin(), maps.heads.end(), q_head);
    return it == maps.heads.end() ? -1 : static_cast<int64_t>(it - maps.heads.begin());
}

void fillPromptMap(const LayerMaps& maps, int64_t b, int64_t hi, MapScale scale, QCPColorMapData& out) {
    const int64_t tq = maps.q_len, tk = maps.kv_len;
    out.setSize(static_cast<int>(tk), static_cast<int>(tq));
    out.setRange(QCPRange(0, static_cast<double>(std::max<int64_t>(tk - 1, 1))),
                 QCPRange(0, static_cast<double>(std::max<int64_t>(tq - 1, 1))));
    for (int64_t i = 0; i < tq; ++i)
        for (int64_t j = 0; j < tk; ++j)
            out.setCell(static_cast<int>(j), static_cast<int>(i),
                        visible(i, j, tq, tk) ? shown(maps.at(b, hi, i, j), scale) : kNaN);
}

double promptWeight(const LayerMaps& maps, int64_t b, int64_t hi, int64_t i, int64_t j) {
    if (hi < 0 || i < 0 || j < 0 || i >= maps.q_len || j >= maps.kv_len || b >= maps.batch) return kNaN;
    if (!visible(i, j, maps.q_len, maps.kv_len)) return kNaN;
    return maps.at(b, hi, i, j);
}

double decodeWeight(const LayerMaps* prompt, const std::vector<const LayerMaps*>& steps, int64_t b, int64_t q_head,
                    int64_t step, int64_t i, int64_t j) {
    const int64_t T = prompt ? prompt->q_len : (steps.empty() || !steps[0] ? 0 : steps[0]->kv_len - 1);
    if (i < T) return prompt ? promptWeight(*prompt, b, headIndex(*prompt, q_head), i, j) : kNaN;
    const int64_t s = i - T;
    if (s > step || s >= static_cast<int64_t>(steps.size()) || !steps[s]) return kNaN;
    const LayerMaps& m = *steps[s];
    return promptWeight(m, b, headIndex(m, q_head), 0, j);
}

void fillDecodeMap(const LayerMaps* prompt, const std::vector<const LayerMaps*>& steps, int64_t b, int64_t q_head,
                   int64_t step, MapScale scale, QCPColorMapData& out) {
    const int64_t T = prompt ? prompt->q_len : (steps.empty() || !steps[0] ? 0 : steps[0]->kv_len - 1);
    const int64_t n = T + static_cast<int64_t>(steps.size());
    out.setSize(static_cast<int>(n), static_cast<int>(n));
    out.setRange(QCPRange(0, static_cast<double>(std::max<int64_t>(n - 1, 1))),
                 QCPRange(0, static_cast<double>(std::max<int64_t>(n - 1, 1))));
    out.fill(kNaN);
    if (prompt) {
        const int64_t hi = headIndex(*prompt, q_head);
        if (hi >= 0)
            for (int64_t i = 0; i < T; ++i)
                for (int64_t j = 0; j <= i && j < prompt->kv_len; ++j)
                    out.setCell(static_cast<int>(j), static_cast<int>(i), shown(prompt->at(b, hi, i, j), scale));
    }
    for (int64_t s = 0; s <= step && s < static_cast<int64_t>(steps.size()); ++s) {
        const LayerMaps* m = steps[s];
        if (!m) continue;
        const int64_t hi = headIndex(*m, q_head);
        if (hi < 0) continue;
        for (int64_t j = 0; j < m->kv_len && j < n; ++j)
            out.setCell(static_cast<int>(j), static_cast<int>(T + s), shown(m->at(b, hi, 0, j), scale));
    }
}

double maxWeight(const LayerMaps& maps, int64_t b, int64_t hi) {
    if (hi < 0 || b >= maps.batch) return 0.0;
    const size_t n = static_cast<size_t>(maps.q_len * maps.kv_len);
    const size_t off = static_cast<size_t>((b * static_cast<int64_t>(maps.heads.size()) + hi)) * n;
    double mx = 0.0;
    for (size_t k = 0; k < n; ++k) mx = std::max(mx, static_cast<double>(maps.probs[off + k]));
    return mx;
}

}  // namespace gqa::ui
