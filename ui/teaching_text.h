// Tooltips that teach: what a group is, why the KV cache shrinks by g, why score FLOPs do not.
#pragma once

#include <QCoreApplication>
#include <QString>

namespace gqa::ui::teach {

inline QString group() {
    return QCoreApplication::translate(
        "teach",
        "<b>A group</b> is a set of g = n_q / n_kv query heads that read the <i>same</i> key and value "
        "head. Query head h uses KV head h / g. Every query head still has its own queries, so each one "
        "can attend somewhere different; only the keys and values are shared.");
}

inline QString kvShrinks() {
    return QCoreApplication::translate(
        "teach",
        "<b>Why the KV cache shrinks by g:</b> the cache stores one K and one V vector per <i>KV head</i>, "
        "token and layer: 2 · layers · batch · seq · n_kv · head_dim · bytes. With n_kv = n_q / g that is "
        "g times less than multi-head attention, and decode reads g times fewer bytes per token.");
}

inline QString flopsDoNot() {
    return QCoreApplication::translate(
        "teach",
        "<b>Why the score FLOPs do not shrink:</b> every <i>query</i> head still computes its own "
        "QK<sup>T</sup> scores and its own weighted sum of V: 4 · n_q · head_dim FLOPs per (query, key) "
        "pair. GQA removes memory traffic, not arithmetic, which is why it speeds up memory-bound decode.");
}

inline QString kinds() {
    return QCoreApplication::translate(
        "teach",
        "<b>MHA</b>: every query head has its own K/V head (n_kv = n_q, g = 1).<br>"
        "<b>GQA</b>: groups of g query heads share one K/V head (1 &lt; n_kv &lt; n_q).<br>"
        "<b>MQA</b>: all query heads share a single K/V head (n_kv = 1, g = n_q).");
}

inline QString kvHeadsControl() {
    return QCoreApplication::translate("teach",
                                       "Only divisors of the query-head count are offered: every group "
                                       "must hold the same number of query heads.<br><br>") +
           group();
}

inline QString roofline() {
    return QCoreApplication::translate(
        "teach",
        "<b>Roofline:</b> an op cannot run faster than its FLOPs over the GEMM rate, nor faster than its bytes "
        "over the memory bandwidth; the prediction is the larger of the two. Both ceilings are measured once "
        "on the device in use.");
}

inline QString runDepth() {
    return QCoreApplication::translate(
        "teach",
        "How many layers the engine really builds and runs. The memory and latency views always show the whole "
        "model analytically; the run itself may use fewer layers when the model does not fit in memory.");
}

inline QString meanPool() {
    return QCoreApplication::translate(
        "teach",
        "<b>Mean-pooling</b> (Ainslie et al., 2023) turns a multi-head checkpoint into a grouped one without "
        "training: the K and V projection heads of the g query heads that will share a KV head are averaged "
        "into one. Queries, output projection and FFN are kept. <b>First</b> keeps the first head of each group "
        "instead, the baseline the paper compares with; mean-pooling usually loses less.");
}

inline QString qualityLoss() {
    return QCoreApplication::translate(
        "teach",
        "<b>Quality loss</b> = ||h<sub>G</sub> − h<sub>MHA</sub>|| / ||h<sub>MHA</sub>||: the relative L2 error "
        "of the model's final hidden state over every prompt position, the converted model against the "
        "multi-head one on the same tokens. 0 means identical outputs; 0.1 means the output moved by 10% of its "
        "size. It is measured right after conversion, before any uptraining.");
}

}  // namespace gqa::ui::teach
