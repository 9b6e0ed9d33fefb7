// Engine attention maps (plain std vectors) -> QCPColorMapData. Keys (x) are key positions, values (y)
// are query positions. Cells a causal mask hides are NaN (drawn transparent), so the triangle shows.
#pragma once

#include <cstdint>
#include <vector>

#include "gqa/backend.h"

class QCPColorMapData;

namespace gqa::ui {

enum class MapScale { Linear, Log };
// Smallest weight shown on the log scale; smaller weights are clamped to it.
inline constexpr double kLogFloor = 1e-5;

const LayerMaps* findLayerMaps(const std::vector<LayerMaps>& maps, int64_t layer);
// Index of query head `q_head` in maps.heads, or -1.
int64_t headIndex(const LayerMaps& maps, int64_t q_head);

// One head of a prompt map: (q_len x kv_len) for sequence b.
// maps: (B, heads, Tq, Tk) probabilities.
void fillPromptMap(const LayerMaps& maps, int64_t b, int64_t head_index, MapScale scale, QCPColorMapData& out);

// The decode view: a (T + S) x (T + S) grid whose rows 0..T-1 are the prompt map (when available) and
// whose row T + s is decode step s, revealed up to `step`; later rows stay NaN.
// steps[s]: the decode map of this layer at step s, (B, heads, 1, T + s + 1).
void fillDecodeMap(const LayerMaps* prompt, const std::vector<const LayerMaps*>& steps, int64_t b, int64_t q_head,
                   int64_t step, MapScale scale, QCPColorMapData& out);

// The weight at (query position i, key position j) in the same two views; NaN when masked or absent.
double promptWeight(const LayerMaps& maps, int64_t b, int64_t head_index, int64_t i, int64_t j);
double decodeWeight(const LayerMaps* prompt, const std::vector<const LayerMaps*>& steps, int64_t b, int64_t q_head,
                    int64_t step, int64_t i, int64_t j);

// Largest weight of one head in a view (for the linear colour range).
double maxWeight(const LayerMaps& maps, int64_t b, int64_t head_index);

}  // namespace gqa::ui
