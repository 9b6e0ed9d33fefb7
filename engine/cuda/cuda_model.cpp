#include "cuda_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>

#include "cuda_check.h"
#include "elementwise.h"
#include "gemm.h"
#include "gqa/dtype.h"
#include "gqa/memory_model.h"

namespace gqa::cuda {

namespace {

// Timing events recorded per layer, at the boundaries of the ops:
//   0 norm 1 qkv 2 rope 3 attention 4 [maps, capture] 5 o_proj 6 norm 7 ffn 8 [capture]
// then 2 around the final norm and 2 around each LM head chunk.
constexpr int kEventsPerLayer = 9;
constexpr int kEventsAfterLayers = 4;
// Progress and cancellation: after queuing layer l the host waits for layer l - kProgressLag to finish, so
// layers_done follows the GPU and a cancel takes effect within a few layers, while the GPU always has the
// next layers queued (no idle gaps between layers).
constexpr int64_t kProgressLag = 2;
// LogitsMode::All runs the LM head in chunks of rows whose fp32 logits take at most this much device memory
// (allocated per step; when that fails, chunks of `batch` rows go through the resident Last-mode buffer).
constexpr int64_t kLogitsChunkBytes = int64_t{256} << 20;

Error invalid(const std::string& m) {
    return makeError(ErrorCode::InvalidArgument, m);
}

int64_t splitScratchMaxQueries(const ModelConfig& c, int64_t max_seq) {
    // fp16/bf16 K/V with head_dim 64/128: steps of more than kSplitMaxQueries tokens take the tensor-core kernel.
    const bool tc = c.kv_dtype != DType::F32 && (c.head_dim == 64 || c.head_dim == 128);
    return tc ? std::min(kSplitMaxQueries, max_seq) : max_seq;
}

// Waits for the stream when a step leaves early, so no queued copy or kernel outlives the per-step buffers
// (pinned capture memory, map buffers, logits chunks) declared before it.
struct StreamDrain {
    cudaStream_t stream;
    bool armed = true;
    ~StreamDrain() {
        if (armed) GQA_CUDA_CHECK_CLEANUP(cudaStreamSynchronize(stream));
    }
};

std::string describe(const Tensor& t, const std::string& role) {
    return role + (t.name.empty() ? "" : " (" + t.name + ")");
}

// The layer matrices, in the order the fused device copies hold them, with the roles validateModel names.
struct MatrixRef {
    const Tensor* t;
    const char* role;
};
std::vector<MatrixRef> layerMatrices(const LayerTensors& l) {
    return {{&l.wq, "q projection"},       {&l.wk, "k projection"},        {&l.wv, "v projection"},
            {&l.wo, "o projection"},       {&l.w_gate, "gate projection"}, {&l.w_up, "up projection"},
            {&l.w_down, "down projection"}};
}

}  // namespace

Status checkModelForCuda(const Model& m) {
    constexpr const char* kQ8 =
        "the CUDA backend reads F32, F16 and BF16 weights; this Q8_0 model runs on the CPU backend (--backend cpu)";
    for (const Tensor* t : m.allTensors())
        if (t->dtype == DType::Q8_0)
            return invalid(std::string(kQ8) + " (" + (t->name.empty() ? "a tensor" : t->name) + " is q8_0)");
    if (m.config.kv_dtype == DType::Q8_0) return invalid("the KV cache must be fp32, fp16 or bf16, not q8_0");
    if (m.layers.empty()) return invalid("the model has no layers");
    // One dtype for every matrix: the fused wq|wk|wv and w_gate|w_up copies are single GEMM operands, and the
    // GEMM inputs (m_xs, the SwiGLU output) are converted to it once per step.
    const DType wdt = m.layers[0].wq.dtype;
    for (std::size_t i = 0; i < m.layers.size(); ++i)
        for (const MatrixRef& r : layerMatrices(m.layers[i]))
            if (r.t->dtype != wdt)
                return invalid("the CUDA backend needs every layer matrix in one dtype: layer 0 " +
                               describe(m.layers[0].wq, "q projection") + " is " + dtypeName(wdt) + " but layer " +
                               std::to_string(i) + " " + describe(*r.t, r.role) + " is " + dtypeName(r.t->dtype));
    return Status::ok();
}

ModelMemoryPlan planModelMemory(const Model& model, int64_t batch, int64_t max_seq, int num_sms) {
    const ModelConfig& c = model.config;
    ModelMemoryPlan m;
    const DType wdt = model.layers.empty() ? c.weight_dtype : model.layers[0].wq.dtype;
    const int64_t e = static_cast<int64_t>(bytesPerElement(wdt));
    const int64_t L = static_cast<int64_t>(model.layers.size());
    const int64_t d = c.d_model, D = c.head_dim, F = c.ffn_dim, V = c.vocab_size;
    const int64_t hqd = c.n_q_heads * D;
    const int64_t w = (c.n_q_heads + 2 * c.n_kv_heads) * D;
    // Matrices and tables as stored; norm gains and biases widened to fp32.
    for (const LayerTensors& l : model.layers) {
        for (const MatrixRef& r : layerMatrices(l)) m.weight_bytes += r.t->bytes;
        m.weight_bytes += 4 * 2 * d + (c.qkv_bias ? 4 * w : 0);
    }
    m.weight_bytes += model.embedding.bytes + (model.lm_head.empty() ? 0 : model.lm_head.bytes) + 4 * d;
    m.kv_cache_bytes = 2 * L * batch * max_seq * c.n_kv_heads * D * static_cast<int64_t>(bytesPerElement(c.kv_dtype));
    const int64_t tokens = batch * max_seq;
    const int64_t xs_cols = wdt == DType::F32 ? d : std::max(d, hqd);  // fp32 feeds attn to o_proj directly
    const int64_t qa_bytes = 4 * tokens * (w + hqd);
    m.act_separate_bytes = e * tokens * F > qa_bytes ? e * tokens * F : 0;
    m.workspace_floats = attentionWorkspaceBoundFloats(batch, c.n_q_heads, c.n_kv_heads, D,
                                                       splitScratchMaxQueries(c, max_seq), max_seq, num_sms);
    m.activation_bytes = 4 * tokens * d + e * tokens * xs_cols + qa_bytes + 4 * tokens * 2 * F + m.act_separate_bytes +
                         4 * tokens + 4 * static_cast<int64_t>(m.workspace_floats) + 4 * batch * V + 8 * (D / 2);
    return m;
}

CudaModel::CudaModel(std::shared_ptr<DeviceContext> ctx, const Model& m, int64_t batch, int64_t max_seq)
    : m_ctx(std::move(ctx)), m_cfg(m.config), m_batch(batch), m_max_seq(max_seq) {
    m_cfg.n_layers = static_cast<int64_t>(m.layers.size());
    m_wdt = m.layers[0].wq.dtype;
    m_embed_dt = m.embedding.dtype;
    m_head_dt = m.lmHead().dtype;
    m_qkv_width = (m_cfg.n_q_heads + 2 * m_cfg.n_kv_heads) * m_cfg.head_dim;
}

Expected<std::unique_ptr<ModelInstance>> CudaModel::create(std::shared_ptr<DeviceContext> ctx, const Model& model,
                                                           int64_t batch, int64_t max_seq) {
    // Names, shapes and byte counts of every tensor first: a malformed Model is refused before any memory is
    // touched.
    GQA_TRY(validateModel(model));
    const ModelConfig& cfg = model.config;
    if (batch < 1 || max_seq < 1)
        return invalid("batch (" + std::to_string(batch) + ") and max_seq (" + std::to_string(max_seq) +
                       ") must be at least 1");
    if (max_seq > cfg.max_seq)
        return invalid("a KV cache of " + std::to_string(max_seq) + " positions exceeds the model's context length (" +
                       std::to_string(cfg.max_seq) + ")");
    if (cfg.head_dim % 2 != 0 || cfg.head_dim > 256)
        return invalid("head_dim " + std::to_string(cfg.head_dim) +
                       " is not supported by the CUDA backend (even, <= 256)");
    if (batch * max_seq > std::numeric_limits<int>::max())
        return invalid("batch x max_seq must stay below 2^31 tokens (cuBLAS dimensions)");
    GQA_TRY(checkModelForCuda(model));

    GQA_TRY(ctx->activate());
    // Predict before allocating: the engine's memory model, then this backend's exact plan.
    std::size_t free_bytes = 0, total_bytes = 0;
    GQA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const auto free_i = static_cast<int64_t>(free_bytes);
    const FitReport fit = predictFit(cfg, batch, max_seq, free_i, 0.9);
    if (!fit.fits)
        return makeError(ErrorCode::OutOfMemory, "CUDA (" + std::string(ctx->props().name) + "): " + fit.message);
    const ModelMemoryPlan plan = planModelMemory(model, batch, max_seq, ctx->numSms());
    const auto budget = static_cast<int64_t>(static_cast<double>(free_i) * 0.9);
    if (plan.total() > budget)
        return makeError(ErrorCode::OutOfMemory,
                         "CUDA (" + std::string(ctx->props().name) + "): needs " + formatBytes(plan.total()) +
                             " (weights " + formatBytes(plan.weight_bytes) + ", KV cache " +
                             formatBytes(plan.kv_cache_bytes) + ", activations " + formatBytes(plan.activation_bytes) +
                             ") but only " + formatBytes(budget) + " of " + formatBytes(free_i) +
                             " free GPU memory may be used");

    std::unique_ptr<CudaModel> m(new CudaModel(std::move(ctx), model, batch, max_seq));
    // On failure `m` is destroyed here and every buffer already allocated is freed with it.
    GQA_TRY(m->allocateAndUpload(model, plan));
    return std::unique_ptr<ModelInstance>(std::move(m));
}

Status CudaModel::uploadConcat(DeviceBuffer& dst, std::initializer_list<const Tensor*> parts, const std::string& what) {
    std::size_t total = 0;
    for (const Tensor* t : parts) total += static_cast<std::size_t>(t->bytes);
    GQA_TRY(dst.allocate(total, what));
    m_alloc.weight_bytes += static_cast<int64_t>(dst.bytes());
    // Row-major (out, in) matrices stacked along `out` are their bytes one after the other. From pageable
    // (or mapped) memory the copy is staged before the call returns.
    std::size_t offset = 0;
    for (const Tensor* t : parts) {
        const auto n = static_cast<std::size_t>(t->bytes);
        GQA_CUDA_CHECK(
            cudaMemcpyAsync(dst.as<uint8_t>() + offset, t->data, n, cudaMemcpyHostToDevice, m_ctx->stream()));
        offset += n;
    }
    return Status::ok();
}

Status CudaModel::uploadAsFloat(DeviceBuffer& dst, std::initializer_list<const Tensor*> parts,
                                const std::string& what) {
    std::size_t total = 0;
    for (const Tensor* t : parts) total += static_cast<std::size_t>(t->numel());
    std::vector<float> host(total);
    std::size_t offset = 0;
    for (const Tensor* t : parts) {
        loadAsFloat(t->dtype, t->data, host.data() + offset, t->numel());
        offset += static_cast<std::size_t>(t->numel());
    }
    GQA_TRY(dst.allocate(total * 4, what));
    m_alloc.weight_bytes += static_cast<int64_t>(dst.bytes());
    // Pageable source: staged before the call returns, so `host` may go away.
    GQA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), host.data(), total * 4, cudaMemcpyHostToDevice, m_ctx->stream()));
    return Status::ok();
}

Status CudaModel::allocateAndUpload(const Model& model, const ModelMemoryPlan& plan) {
    const int64_t L = m_cfg.n_layers;
    const std::size_t e = bytesPerElement(m_wdt);
    const int64_t d = m_cfg.d_model, F = m_cfg.ffn_dim, hqd = m_cfg.n_q_heads * m_cfg.head_dim;
    const int64_t tokens = m_batch * m_max_seq;

    GQA_TRY(uploadConcat(m_embedding, {&model.embedding}, "the embedding table"));
    if (!model.lm_head.empty()) GQA_TRY(uploadConcat(m_lm_head, {&model.lm_head}, "the LM head"));
    GQA_TRY(uploadAsFloat(m_final_norm, {&model.final_norm}, "the final norm"));
    m_layers.resize(static_cast<std::size_t>(L));
    const std::size_t kv_bytes = static_cast<std::size_t>(m_batch * m_cfg.n_kv_heads * m_max_seq * m_cfg.head_dim) *
                                 bytesPerElement(m_cfg.kv_dtype);
    for (int64_t l = 0; l < L; ++l) {
        LayerBuffers& b = m_layers[static_cast<std::size_t>(l)];
        const LayerTensors& lt = model.layers[static_cast<std::size_t>(l)];
        const std::string name = "layer " + std::to_string(l) + " ";
        GQA_TRY(uploadAsFloat(b.attn_norm, {&lt.attn_norm}, name + "attn_norm"));
        GQA_TRY(uploadConcat(b.wqkv, {&lt.wq, &lt.wk, &lt.wv}, name + "wq|wk|wv"));
        if (m_cfg.qkv_bias) GQA_TRY(uploadAsFloat(b.qkv_bias, {&lt.bq, &lt.bk, &lt.bv}, name + "q/k/v biases"));
        GQA_TRY(uploadConcat(b.wo, {&lt.wo}, name + "wo"));
        GQA_TRY(uploadAsFloat(b.ffn_norm, {&lt.ffn_norm}, name + "ffn_norm"));
        GQA_TRY(uploadConcat(b.w_gate_up, {&lt.w_gate, &lt.w_up}, name + "w_gate|w_up"));
        GQA_TRY(uploadConcat(b.w_down, {&lt.w_down}, name + "w_down"));
        GQA_TRY(b.k_cache.allocate(kv_bytes, name + "K cache"));
        GQA_TRY(b.v_cache.allocate(kv_bytes, name + "V cache"));
        m_alloc.kv_cache_bytes += static_cast<int64_t>(b.k_cache.bytes() + b.v_cache.bytes());
    }

    const std::vector<double> inv_freq = ropeInverseFrequencies(m_cfg);  // (D/2), rope_scaling applied
    GQA_TRY(m_inv_freq.allocate(inv_freq.size() * sizeof(double), "the RoPE frequencies"));
    GQA_CUDA_CHECK(cudaMemcpyAsync(m_inv_freq.data(), inv_freq.data(), inv_freq.size() * sizeof(double),
                                   cudaMemcpyHostToDevice, m_ctx->stream()));

    const int64_t xs_cols = m_wdt == DType::F32 ? d : std::max(d, hqd);
    GQA_TRY(m_x.allocate(static_cast<std::size_t>(tokens * d) * 4, "the residual stream"));
    GQA_TRY(m_xs.allocate(static_cast<std::size_t>(tokens * xs_cols) * e, "the GEMM input buffer"));
    GQA_TRY(m_qa.allocate(static_cast<std::size_t>(tokens * (m_qkv_width + hqd)) * 4, "the QKV/attention buffer"));
    GQA_TRY(m_gu.allocate(static_cast<std::size_t>(tokens * 2 * F) * 4, "the gate/up buffer"));
    if (plan.act_separate_bytes > 0)
        GQA_TRY(m_act.allocate(static_cast<std::size_t>(plan.act_separate_bytes), "the SwiGLU output"));
    GQA_TRY(m_tokens.allocate(static_cast<std::size_t>(tokens) * 4, "token ids"));
    m_ws_floats = plan.workspace_floats;
    GQA_TRY(m_ws.allocate(m_ws_floats * 4, "split-K attention scratch"));
    GQA_TRY(m_logits.allocate(static_cast<std::size_t>(m_batch * m_cfg.vocab_size) * 4, "the logits"));
    m_alloc.activation_bytes =
        static_cast<int64_t>(m_x.bytes() + m_xs.bytes() + m_qa.bytes() + m_gu.bytes() + m_act.bytes() +
                             m_tokens.bytes() + m_ws.bytes() + m_logits.bytes() + m_inv_freq.bytes());
    GQA_TRY(m_events.create(static_cast<std::size_t>(L * kEventsPerLayer + kEventsAfterLayers)));
    GQA_CUDA_CHECK(cudaStreamSynchronize(m_ctx->stream()));
    return Status::ok();
}

AttentionParams CudaModel::attentionParams(int64_t layer, int64_t T) const {
    const LayerBuffers& b = m_layers[static_cast<std::size_t>(layer)];
    const int64_t D = m_cfg.head_dim, hqd = m_cfg.n_q_heads * D;
    AttentionParams p;
    // q: rotated Q heads inside the fused qkv rows (B, T, (Hq + 2 Hkv) D)
    p.q = m_qa.as<float>();
    p.q_sb = T * m_qkv_width;
    p.q_sh = D;
    p.q_si = m_qkv_width;
    // k, v: the cache (B, Hkv, max_seq, D), positions 0 .. pos + T - 1 valid
    p.k = b.k_cache.data();
    p.v = b.v_cache.data();
    p.kv_sb = m_cfg.n_kv_heads * m_max_seq * D;
    p.kv_sh = m_max_seq * D;
    p.kv_si = D;
    p.kv_dtype = m_cfg.kv_dtype;
    // out: attn (B, T, Hq D), after the qkv region of m_qa
    p.out = m_qa.as<float>() + m_batch * m_max_seq * m_qkv_width;
    p.o_sb = T * hqd;
    p.o_sh = D;
    p.o_si = hqd;
    p.batch = m_batch;
    p.n_q_heads = m_cfg.n_q_heads;
    p.n_kv_heads = m_cfg.n_kv_heads;
    p.q_len = T;
    p.kv_len = m_pos + T;
    p.head_dim = D;
    p.causal = true;
    p.window = m_cfg.windowOf(layer);  // >= max_seq here (createModel refuses shorter windows): no key is hidden
    return p;
}

Status CudaModel::prefill(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) {
    return step(tokens, T, req, out);
}

Status CudaModel::decode(const int32_t* tokens, const StepRequest& req, StepOutput& out) {
    return step(tokens, 1, req, out);
}

Status CudaModel::step(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) {
    const auto wall0 = std::chrono::steady_clock::now();
    const int64_t B = m_batch, L = m_cfg.n_layers, d = m_cfg.d_model, F = m_cfg.ffn_dim;
    const int64_t Hq = m_cfg.n_q_heads, D = m_cfg.head_dim, hqd = Hq * D;
    const DType wdt = m_wdt;  // GEMM inputs (norm outputs, attention output, SwiGLU output)
    if (!tokens) return invalid("no tokens given");
    if (T < 1) return invalid("a step needs at least one token (got " + std::to_string(T) + ")");
    if (m_pos + T > m_max_seq)
        return invalid("a step of " + std::to_string(T) + " tokens at position " + std::to_string(m_pos) +
                       " exceeds the KV cache (max_seq " + std::to_string(m_max_seq) + ")");
    const int64_t rows = B * T, pos0 = m_pos, Tk = pos0 + T;
    for (int64_t i = 0; i < rows; ++i)
        if (tokens[i] < 0 || tokens[i] >= m_cfg.vocab_size)
            return invalid("token id " + std::to_string(tokens[i]) + " at (batch " + std::to_string(i / T) +
                           ", position " + std::to_string(i % T) + ") is outside the vocabulary of " +
                           std::to_string(m_cfg.vocab_size) + " tokens");

    // Attention maps: which layers, which heads.
    std::vector<int64_t> map_layers;
    std::vector<int32_t> map_heads;
    std::vector<int64_t> map_heads64;
    if (!req.maps.empty()) {
        for (int64_t l : req.maps.layers) {
            if (l < 0 || l >= L)
                return invalid("attention map requested for layer " + std::to_string(l) + " of a " + std::to_string(L) +
                               "-layer model");
            if (std::find(map_layers.begin(), map_layers.end(), l) == map_layers.end()) map_layers.push_back(l);
        }
        if (req.maps.heads.empty())
            for (int64_t h = 0; h < Hq; ++h) map_heads64.push_back(h);
        else
            map_heads64 = req.maps.heads;
        for (int64_t h : map_heads64) {
            if (h < 0 || h >= Hq)
                return invalid("attention map requested for query head " + std::to_string(h) + " of " +
                               std::to_string(Hq));
            map_heads.push_back(static_cast<int32_t>(h));
        }
    }
    const int64_t nh = static_cast<int64_t>(map_heads.size());
    const std::size_t map_floats = static_cast<std::size_t>(B * nh * T * Tk);

    GQA_TRY(m_ctx->activate());
    const cudaStream_t s = m_ctx->stream();
    cublasHandle_t blas = m_ctx->cublas();

    // Per-step buffers (maps, capture staging); the drain guard below is destroyed before them.
    DeviceBuffer d_maps, d_heads;
    PinnedBuffer capture;
    if (!map_layers.empty()) {
        GQA_TRY(d_maps.allocate(map_layers.size() * map_floats * 4, "attention maps"));
        GQA_TRY(d_heads.allocate(map_heads.size() * 4, "attention map head list"));
        GQA_CUDA_CHECK(
            cudaMemcpyAsync(d_heads.data(), map_heads.data(), map_heads.size() * 4, cudaMemcpyHostToDevice, s));
    }
    const std::size_t cap_attn = static_cast<std::size_t>(rows * hqd), cap_hidden = static_cast<std::size_t>(rows * d);
    if (req.capture_layers)
        GQA_TRY(capture.allocate(static_cast<std::size_t>(L) * (cap_attn + cap_hidden) * 4, "layer capture"));
    StreamDrain drain{s};

    float* x = m_x.as<float>();
    void* xs = m_xs.data();
    float* qkv = m_qa.as<float>();
    float* attn = m_qa.as<float>() + m_batch * m_max_seq * m_qkv_width;
    float* gu = m_gu.as<float>();
    void* act = m_act.data() ? m_act.data() : m_qa.data();  // QKV/attention rows are dead during the FFN
    const float eps = static_cast<float>(m_cfg.norm_eps);

    GQA_CUDA_CHECK(
        cudaMemcpyAsync(m_tokens.data(), tokens, static_cast<std::size_t>(rows) * 4, cudaMemcpyHostToDevice, s));
    GQA_TRY(launchEmbedding(m_tokens.as<int32_t>(), m_embedding.data(), m_embed_dt, x, rows, d, s));

    const bool track = req.layers_done != nullptr || req.cancel != nullptr;
    int64_t reported = 0;  // layers counted in req.layers_done so far
    auto report = [&](int64_t upto) {
        if (req.layers_done && upto > reported) req.layers_done->fetch_add(upto - reported);
        reported = std::max(reported, upto);
    };
    auto ev = [&](int64_t l, int k) { return m_events[static_cast<std::size_t>(l * kEventsPerLayer + k)]; };

    for (int64_t l = 0; l < L; ++l) {
        if (req.cancel && req.cancel->load()) {
            drain.armed = false;
            GQA_CUDA_CHECK(cudaStreamSynchronize(s));
            return makeError(ErrorCode::Cancelled,
                             "cancelled after " + std::to_string(l) + " of " + std::to_string(L) + " layers");
        }
        const LayerBuffers& lb = m_layers[static_cast<std::size_t>(l)];
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 0), s));
        GQA_TRY(launchRmsNorm(x, lb.attn_norm.data(), DType::F32, xs, wdt, rows, d, eps, s));
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 1), s));
        // qkv = xs · [wq | wk | wv]^T; the biases are added by the RoPE kernel, before the rotation.
        GQA_TRY(linearRowMajor(blas, wdt, xs, d, lb.wqkv.data(), qkv, rows, m_qkv_width, d, 0.f));
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 2), s));
        RopeKvParams rp;
        rp.qkv = qkv;
        rp.qkv_bias = lb.qkv_bias.as<float>();  // null without config.qkv_bias
        rp.inv_freq = m_inv_freq.as<double>();
        rp.k_cache = lb.k_cache.data();
        rp.v_cache = lb.v_cache.data();
        rp.kv_dtype = m_cfg.kv_dtype;
        rp.batch = B;
        rp.tokens = T;
        rp.n_q_heads = Hq;
        rp.n_kv_heads = m_cfg.n_kv_heads;
        rp.head_dim = D;
        rp.max_seq = m_max_seq;
        rp.pos0 = pos0;
        GQA_TRY(launchRopeAppendKv(rp, s));
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 3), s));
        const AttentionParams ap = attentionParams(l, T);
        GQA_TRY(runAttention(ap, m_ws.as<float>(), m_ws_floats, m_ctx->numSms(), s));
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 4), s));
        // Off the timed path: maps of this layer, capture of the attention output.
        const auto mi = std::find(map_layers.begin(), map_layers.end(), l);
        if (mi != map_layers.end()) {
            float* dst = d_maps.as<float>() + static_cast<std::size_t>(mi - map_layers.begin()) * map_floats;
            GQA_TRY(runAttentionProbs(ap, d_heads.as<int32_t>(), nh, dst, s));
        }
        if (req.capture_layers)
            GQA_CUDA_CHECK(cudaMemcpyAsync(capture.as<float>() + static_cast<std::size_t>(l) * cap_attn, attn,
                                           cap_attn * 4, cudaMemcpyDeviceToHost, s));
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 5), s));
        if (wdt == DType::F32) {
            GQA_TRY(linearRowMajor(blas, wdt, attn, hqd, lb.wo.data(), x, rows, d, hqd, 1.f));  // x += attn · wo^T
        } else {
            GQA_TRY(launchConvert(attn, xs, wdt, rows * hqd, s));
            GQA_TRY(linearRowMajor(blas, wdt, xs, hqd, lb.wo.data(), x, rows, d, hqd, 1.f));  // x += attn · wo^T
        }
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 6), s));
        GQA_TRY(launchRmsNorm(x, lb.ffn_norm.data(), DType::F32, xs, wdt, rows, d, eps, s));
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 7), s));
        // gu = xs · [w_gate | w_up]^T: (rows, [gate | up])
        GQA_TRY(linearRowMajor(blas, wdt, xs, d, lb.w_gate_up.data(), gu, rows, 2 * F, d, 0.f));
        GQA_TRY(launchSwiGlu(gu, act, wdt, rows, F, s));
        GQA_TRY(linearRowMajor(blas, wdt, act, F, lb.w_down.data(), x, rows, d, F, 1.f));  // x += act · w_down^T
        GQA_CUDA_CHECK(cudaEventRecord(ev(l, 8), s));
        if (req.capture_layers)
            GQA_CUDA_CHECK(cudaMemcpyAsync(
                capture.as<float>() + static_cast<std::size_t>(L) * cap_attn + static_cast<std::size_t>(l) * cap_hidden,
                x, cap_hidden * 4, cudaMemcpyDeviceToHost, s));
        if (track && l >= kProgressLag) {
            GQA_CUDA_CHECK(cudaEventSynchronize(ev(l - kProgressLag, 8)));
            report(l - kProgressLag + 1);
        }
    }

    const cudaEvent_t fin0 = m_events[static_cast<std::size_t>(L * kEventsPerLayer)];
    const cudaEvent_t fin1 = m_events[static_cast<std::size_t>(L * kEventsPerLayer + 1)];
    GQA_CUDA_CHECK(cudaEventRecord(fin0, s));
    GQA_TRY(launchRmsNorm(x, m_final_norm.data(), DType::F32, x, DType::F32, rows, d, eps, s));
    GQA_CUDA_CHECK(cudaEventRecord(fin1, s));
    // LM head on the final-normed rows: each sequence's last position (row b T + T - 1), or every position.
    out.logits.clear();
    out.lm_head_ms = 0.0;
    if (req.logits == LogitsMode::Last)
        GQA_TRY(lmHead(T - 1, T, B, out));
    else if (req.logits == LogitsMode::All)
        GQA_TRY(lmHead(0, 1, rows, out));
    std::vector<float> hidden(static_cast<std::size_t>(rows * d));
    GQA_CUDA_CHECK(cudaMemcpyAsync(hidden.data(), x, hidden.size() * 4, cudaMemcpyDeviceToHost, s));
    GQA_CUDA_CHECK(cudaStreamSynchronize(s));  // the step's one full synchronization
    drain.armed = false;
    report(L);

    auto elapsed = [](cudaEvent_t a, cudaEvent_t b, double& ms) -> Status {
        float f = 0.f;
        GQA_CUDA_CHECK(cudaEventElapsedTime(&f, a, b));
        ms = f;
        return Status::ok();
    };
    out.layer_ms.assign(static_cast<std::size_t>(L), OpTimes{});
    for (int64_t l = 0; l < L; ++l) {
        OpTimes& t = out.layer_ms[static_cast<std::size_t>(l)];
        double a = 0, b = 0;
        GQA_TRY(elapsed(ev(l, 0), ev(l, 1), a));
        GQA_TRY(elapsed(ev(l, 6), ev(l, 7), b));
        t[static_cast<int>(Op::Norm)] = a + b;
        GQA_TRY(elapsed(ev(l, 1), ev(l, 2), t[static_cast<int>(Op::Qkv)]));
        GQA_TRY(elapsed(ev(l, 2), ev(l, 3), t[static_cast<int>(Op::Rope)]));
        GQA_TRY(elapsed(ev(l, 3), ev(l, 4), t[static_cast<int>(Op::Attention)]));
        GQA_TRY(elapsed(ev(l, 5), ev(l, 6), t[static_cast<int>(Op::OProj)]));
        GQA_TRY(elapsed(ev(l, 7), ev(l, 8), t[static_cast<int>(Op::Ffn)]));
    }
    GQA_TRY(elapsed(fin0, fin1, out.final_norm_ms));

    out.hidden = std::move(hidden);
    out.maps.clear();
    for (std::size_t i = 0; i < map_layers.size(); ++i) {
        LayerMaps lm;
        lm.layer = map_layers[i];
        lm.heads = map_heads64;
        lm.batch = B;
        lm.q_len = T;
        lm.kv_len = Tk;
        lm.probs.resize(map_floats);
        GQA_CUDA_CHECK(cudaMemcpyAsync(lm.probs.data(), d_maps.as<float>() + i * map_floats, map_floats * 4,
                                       cudaMemcpyDeviceToHost, s));  // pageable destination: returns when done
        out.maps.push_back(std::move(lm));
    }
    out.layer_attn_out.clear();
    out.layer_hidden.clear();
    if (req.capture_layers) {
        const float* c = capture.as<float>();
        for (int64_t l = 0; l < L; ++l) {
            const float* a = c + static_cast<std::size_t>(l) * cap_attn;
            const float* h = c + static_cast<std::size_t>(L) * cap_attn + static_cast<std::size_t>(l) * cap_hidden;
            out.layer_attn_out.emplace_back(a, a + cap_attn);
            out.layer_hidden.emplace_back(h, h + cap_hidden);
        }
    }
    m_pos += T;
    out.total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count();
    return Status::ok();
}

Status CudaModel::lmHead(int64_t first, int64_t stride, int64_t rows, StepOutput& out) {
    const cudaStream_t s = m_ctx->stream();
    cublasHandle_t blas = m_ctx->cublas();
    const int64_t d = m_cfg.d_model, V = m_cfg.vocab_size;
    const void* head =
        m_lm_head.data() ? m_lm_head.data() : m_embedding.data();  // (V, d) head dtype; tied: the embedding
    const std::size_t head_e = bytesPerElement(m_head_dt);
    try {
        out.logits.resize(static_cast<std::size_t>(rows * V));  // (rows, V) fp32
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, "not enough host memory for the logits of " + std::to_string(rows) +
                                                     " positions x " + std::to_string(V) + " tokens (" +
                                                     formatBytes(rows * V * 4) + ")");
    }
    // Device logits: the resident (B, V) buffer, or for LogitsMode::All a larger chunk when it can be had.
    DeviceBuffer chunk_buf;
    float* dst = m_logits.as<float>();
    int64_t chunk = std::min(rows, m_batch);
    const int64_t want = std::min(rows, std::max(m_batch, kLogitsChunkBytes / (4 * V)));
    if (want > chunk &&
        chunk_buf.allocate(static_cast<std::size_t>(want * V) * 4, "the logits of all positions").isOk()) {
        dst = chunk_buf.as<float>();
        chunk = want;
    }
    StreamDrain drain{s};  // destroyed before chunk_buf
    const cudaEvent_t e0 = m_events[static_cast<std::size_t>(m_cfg.n_layers * kEventsPerLayer + 2)];
    const cudaEvent_t e1 = m_events[static_cast<std::size_t>(m_cfg.n_layers * kEventsPerLayer + 3)];
    double total_ms = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t n = std::min(chunk, rows - r0);
        const float* src = m_x.as<float>() + (first + r0 * stride) * d;  // n rows of d, row stride `stride` d
        GQA_CUDA_CHECK(cudaEventRecord(e0, s));
        if (m_head_dt == DType::F32 && stride == 1) {
            GQA_TRY(linearRowMajor(blas, DType::F32, src, d, head, dst, n, V, d, 0.f));
        } else {
            // Gathered (and rounded to the head's dtype) into m_xs, free after the last layer: n <= B rows
            // when strided, n <= B max_seq rows of 2 bytes otherwise, both within its size.
            if (static_cast<std::size_t>(n * d) * head_e > m_xs.bytes())
                return makeError(ErrorCode::Internal,
                                 "LM head input of " + std::to_string(n) + " rows does not fit the GEMM input buffer");
            GQA_TRY(launchConvertRows(src, stride * d, m_xs.data(), m_head_dt, n, d, s));
            GQA_TRY(linearRowMajor(blas, m_head_dt, m_xs.data(), d, head, dst, n, V, d, 0.f));
        }
        GQA_CUDA_CHECK(cudaEventRecord(e1, s));
        // Pageable destination: returns when the copy is done, so the next chunk may overwrite `dst`.
        GQA_CUDA_CHECK(cudaMemcpyAsync(out.logits.data() + r0 * V, dst, static_cast<std::size_t>(n * V) * 4,
                                       cudaMemcpyDeviceToHost, s));
        GQA_CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0.f;
        GQA_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        total_ms += ms;
    }
    GQA_CUDA_CHECK(cudaStreamSynchronize(s));
    drain.armed = false;
    out.lm_head_ms = total_ms;
    return Status::ok();
}

Status CudaModel::readKvCache(int64_t layer, std::vector<float>& k, std::vector<float>& v) const {
    if (layer < 0 || layer >= m_cfg.n_layers)
        return invalid("readKvCache: layer " + std::to_string(layer) + " of a " + std::to_string(m_cfg.n_layers) +
                       "-layer model");
    GQA_TRY(m_ctx->activate());
    const int64_t D = m_cfg.head_dim, heads = m_batch * m_cfg.n_kv_heads;
    const DType kdt = m_cfg.kv_dtype;
    const std::size_t e = bytesPerElement(kdt);
    const std::size_t n = static_cast<std::size_t>(heads * m_pos * D);
    k.assign(n, 0.f);
    v.assign(n, 0.f);
    if (n == 0) return Status::ok();
    const LayerBuffers& b = m_layers[static_cast<std::size_t>(layer)];
    // (B, Hkv, max_seq, D) -> (B, Hkv, pos, D): B*Hkv rows of pos*D elements, source pitch max_seq*D.
    const std::size_t width = static_cast<std::size_t>(m_pos * D) * e,
                      pitch = static_cast<std::size_t>(m_max_seq * D) * e;
    std::vector<uint16_t> staging;
    for (int which = 0; which < 2; ++which) {
        std::vector<float>& dst = which == 0 ? k : v;
        const void* src = which == 0 ? b.k_cache.data() : b.v_cache.data();
        void* host = dst.data();
        if (kdt != DType::F32) {
            staging.resize(n);
            host = staging.data();
        }
        GQA_CUDA_CHECK(cudaMemcpy2DAsync(host, width, src, pitch, width, static_cast<std::size_t>(heads),
                                         cudaMemcpyDeviceToHost, m_ctx->stream()));
        GQA_CUDA_CHECK(cudaStreamSynchronize(m_ctx->stream()));
        if (kdt == DType::BF16)
            for (std::size_t i = 0; i < n; ++i) dst[i] = bf16ToFloat(staging[i]);
        else if (kdt == DType::F16)
            for (std::size_t i = 0; i < n; ++i) dst[i] = f16ToFloat(staging[i]);
    }
    return Status::ok();
}

}  // namespace gqa::cuda
