// The Model type: tensors as views into storage, and the one shape check every source passes through.
#include "gqa/model.h"

#include <cstring>

namespace gqa {

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return shape.empty() ? 0 : n;
}

OwnedStorage::OwnedStorage(int64_t bytes) : m_bytes(static_cast<size_t>(bytes)), m_size(bytes) {}

void* addOwnedTensor(Model& model, Tensor& t, std::string name, DType dtype, std::vector<int64_t> shape) {
    t.name = std::move(name);
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes = storageBytes(dtype, t.numel());
    auto st = std::make_shared<OwnedStorage>(t.bytes);
    t.data = st->data();
    model.storage.push_back(st);
    return st->data();
}

int64_t Model::tensorBytes() const {
    int64_t n = 0;
    for (const Tensor* t : allTensors()) n += t->bytes;
    return n;
}

std::vector<const Tensor*> Model::allTensors() const {
    std::vector<const Tensor*> out;
    for (const auto& l : layers)
        for (const Tensor* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm, &l.w_gate,
                                &l.w_up, &l.w_down})
            if (!t->empty()) out.push_back(t);
    for (const Tensor* t : {&embedding, &final_norm, &lm_head})
        if (!t->empty()) out.push_back(t);
    return out;
}

Model Model::firstLayers(int64_t n) const {
    Model m = *this;
    if (n > 0 && n < static_cast<int64_t>(layers.size())) {
        m.layers.resize(static_cast<size_t>(n));
        m.config.n_layers = n;
        if (static_cast<int64_t>(m.head_roles.size()) > n) m.head_roles.resize(static_cast<size_t>(n));
    }
    return m;
}

const char* headRoleName(HeadRole r) {
    switch (r) {
        case HeadRole::PreviousToken: return "previous-token";
        case HeadRole::Sink: return "sink";
        case HeadRole::LocalWindow: return "local-window";
        case HeadRole::Broad: return "broad";
        case HeadRole::Content: return "content";
    }
    return "?";
}

const char* headRoleDescription(HeadRole r) {
    switch (r) {
        case HeadRole::PreviousToken:
            return "attends to the token just before the query (the copy/induction building block)";
        case HeadRole::Sink:
            return "parks its attention on the first token (an attention sink), as many heads of real models do";
        case HeadRole::LocalWindow: return "spreads attention over the last few tokens (a local window)";
        case HeadRole::Broad: return "attends almost uniformly to everything before it (a bag-of-words average)";
        case HeadRole::Content: return "random query weights: a mix of content and position, like an untrained head";
    }
    return "";
}

namespace {

std::string shapeText(const std::vector<int64_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + ")";
}

Status checkTensor(const Tensor& t, const std::string& what, std::vector<int64_t> shape, bool matrix) {
    auto bad = [&](const std::string& m) { return Status(makeError(ErrorCode::Corrupt, what + ": " + m)); };
    if (t.empty()) return bad("missing");
    if (t.shape != shape)
        return bad("shape " + shapeText(t.shape) + " differs from " + shapeText(shape) + " required by the config");
    if (t.dtype == DType::Q8_0 && (!matrix || t.cols() % kQ8BlockElems != 0))
        return bad("Q8_0 is only read for matrices whose rows are a multiple of 32");
    if (t.bytes != storageBytes(t.dtype, t.numel()))
        return bad("holds " + std::to_string(t.bytes) + " bytes, expected " +
                   std::to_string(storageBytes(t.dtype, t.numel())));
    return Status::ok();
}

}  // namespace

Status validateModel(const Model& m) {
    const ModelConfig& c = m.config;
    GQA_TRY(c.validate());
    if (static_cast<int64_t>(m.layers.size()) != c.n_layers)
        return makeError(ErrorCode::Corrupt, "the model holds " + std::to_string(m.layers.size()) +
                                                 " layers but its config says " + std::to_string(c.n_layers));
    const int64_t d = c.d_model, q = c.n_q_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim, F = c.ffn_dim;
    GQA_TRY(checkTensor(m.embedding, "token embedding (" + m.embedding.name + ")", {c.vocab_size, d}, true));
    GQA_TRY(checkTensor(m.final_norm, "final norm (" + m.final_norm.name + ")", {d}, false));
    if (c.tied_embeddings != m.lm_head.empty())
        return makeError(ErrorCode::Corrupt, c.tied_embeddings ? "the config ties the LM head to the embedding, but "
                                                                 "the checkpoint has a separate head"
                                                               : "the LM head (lm_head / output.weight) is missing");
    if (!m.lm_head.empty())
        GQA_TRY(checkTensor(m.lm_head, "LM head (" + m.lm_head.name + ")", {c.vocab_size, d}, true));
    for (size_t i = 0; i < m.layers.size(); ++i) {
        const auto& l = m.layers[i];
        auto n = [&](const Tensor& t, const char* role) {
            return "layer " + std::to_string(i) + " " + role + (t.name.empty() ? "" : " (" + t.name + ")");
        };
        GQA_TRY(checkTensor(l.attn_norm, n(l.attn_norm, "attention norm"), {d}, false));
        GQA_TRY(checkTensor(l.wq, n(l.wq, "q projection"), {q, d}, true));
        GQA_TRY(checkTensor(l.wk, n(l.wk, "k projection"), {kv, d}, true));
        GQA_TRY(checkTensor(l.wv, n(l.wv, "v projection"), {kv, d}, true));
        if (c.qkv_bias) {
            GQA_TRY(checkTensor(l.bq, n(l.bq, "q bias"), {q}, false));
            GQA_TRY(checkTensor(l.bk, n(l.bk, "k bias"), {kv}, false));
            GQA_TRY(checkTensor(l.bv, n(l.bv, "v bias"), {kv}, false));
        }
        GQA_TRY(checkTensor(l.wo, n(l.wo, "o projection"), {d, q}, true));
        GQA_TRY(checkTensor(l.ffn_norm, n(l.ffn_norm, "FFN norm"), {d}, false));
        GQA_TRY(checkTensor(l.w_gate, n(l.w_gate, "gate projection"), {F, d}, true));
        GQA_TRY(checkTensor(l.w_up, n(l.w_up, "up projection"), {F, d}, true));
        GQA_TRY(checkTensor(l.w_down, n(l.w_down, "down projection"), {d, F}, true));
    }
    return Status::ok();
}

}  // namespace gqa
