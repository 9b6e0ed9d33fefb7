// The CPU backend: OpenBLAS for the projections, our group-aware kernels for attention, OpenMP threads.
#if defined(GQA_HAVE_OPENBLAS)
#include <cblas.h>
#endif
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>

#include "checked_math.h"
#include "cpu_kernels.h"
#include "cpu_ops.h"
#include "gqa/backend.h"
#include "gqa/large_buffer.h"
#include "gqa/memory_model.h"
#include "gqa/timing.h"
#include "rng.h"

namespace gqa {

namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

#if !defined(GQA_HAVE_OPENBLAS)
// Without OpenBLAS (only on machines that lack it, e.g. a GPU box where the CPU backend is just the
// reference): a plain cache-blocked row-major sgemm, y = alpha x W + beta y with beta = 0.
// With transb, W is (n x k) and y = x W^T.
enum { CblasRowMajor, CblasNoTrans, CblasTrans };
void cblas_sgemm(int, int, int transb, int m, int n, int k, float, const float* x, int lda, const float* w, int ldw,
                 float, float* y, int ldy) {
    for (int i = 0; i < m; ++i)
        std::fill(y + static_cast<int64_t>(i) * ldy, y + static_cast<int64_t>(i) * ldy + n, 0.0f);
    if (transb == CblasTrans) {
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
                float acc = 0.0f;
                for (int kk = 0; kk < k; ++kk)
                    acc += x[static_cast<int64_t>(i) * lda + kk] * w[static_cast<int64_t>(j) * ldw + kk];
                y[static_cast<int64_t>(i) * ldy + j] = acc;
            }
        return;
    }
    constexpr int kb = 256;
    for (int k0 = 0; k0 < k; k0 += kb)
        for (int i = 0; i < m; ++i) {
            float* yr = y + static_cast<int64_t>(i) * ldy;
            for (int kk = k0; kk < std::min(k, k0 + kb); ++kk) {
                const float a = x[static_cast<int64_t>(i) * lda + kk];
                const float* wr = w + static_cast<int64_t>(kk) * ldw;
                for (int j = 0; j < n; ++j) yr[j] += a * wr[j];
            }
        }
}
void openblas_set_num_threads(int) {}
#endif

// y = x W for row-major fp32 x (m x k, leading dim lda) and W (k x n): the ceilings' GEMM probe.
// OpenBLAS runs single-threaded inside our OpenMP threads: two thread pools spinning on 2 cores would
// fight each other. Each thread takes a block of x's rows.
void gemm(const float* x, int64_t lda, const float* w, float* y, int64_t m, int64_t k, int64_t n) {
    const int parts = omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(parts)
    for (int t = 0; t < parts; ++t) {
        const int64_t r0 = m * t / parts, r1 = m * (t + 1) / parts;
        if (r1 > r0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(r1 - r0), static_cast<int>(n),
                        static_cast<int>(k), 1.0f, x + r0 * lda, static_cast<int>(lda), w, static_cast<int>(n), 0.0f,
                        y + r0 * n, static_cast<int>(n));
    }
}

// Rows of W widened to fp32 per prefill GEMM tile (memory_model.cpp counts them per thread).
constexpr int64_t kTileRows = 128;
// Activation rows at most handled by the in-place dot kernel; more go through fp32 tiles and OpenBLAS.
constexpr int64_t kDotRowsMax = 4;

// The kernels' view of rows [o0, o1) of W against n activation rows (x may be null where the kernel takes a
// packed copy instead).
cpu::LinearArgs linearArgs(const Tensor& W, const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy, int64_t o0,
                           int64_t o1) {
    cpu::LinearArgs a;
    a.w = W.data;
    a.dtype = W.dtype;
    a.in = W.cols();
    a.row_bytes = W.rowBytes();
    a.x = x;
    a.ldx = ldx;
    a.n = n;
    a.y = y;
    a.ldy = ldy;
    a.o0 = o0;
    a.o1 = o1;
    return a;
}

// y[r, o] = x[r, :] . W[o, :] (+ bias[o]) for a linear layer W: (out, in) in its stored dtype.
// x: (n, in) with leading dim ldx; y: (n, out) with leading dim ldy. `tiles`: one fp32 scratch per thread.
void linear(const Tensor& W, const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
            std::vector<std::vector<float>>& tiles) {
    const int64_t out = W.rows(), in = W.cols();
    const auto& K = cpu::kernels();
    const int threads = omp_get_max_threads();
    if (n <= kDotRowsMax) {
        // Decode: weight-bandwidth bound; each thread streams its own block of rows once.
        // Blocks of rows taken dynamically: when another process holds one core, the other thread takes
        // more blocks instead of waiting at the barrier for a descheduled half.
        const int parts = out * in > (1 << 16) ? threads * 8 : 1;
        // Q8_0 on AMX-INT8: x cut once into exact int8 parts (in the extra tile), shared by every thread.
        const void* xq = nullptr;
        if (W.dtype == DType::Q8_0 && K.packInt8Activations && in % 32 == 0) {
            if (static_cast<int64_t>(tiles.size()) < threads + 1) tiles.resize(static_cast<size_t>(threads + 1));
            auto& pbuf = tiles[static_cast<size_t>(threads)];
            pbuf.resize(static_cast<size_t>(cpu::int8ActivationBytes(n, in) / 4));
            if (K.packInt8Activations(x, n, ldx, in, pbuf.data())) xq = pbuf.data();
        }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (parts > 1)
        for (int t = 0; t < parts; ++t) {
            auto args = linearArgs(W, x, ldx, n, y, ldy, out * t / parts, out * (t + 1) / parts);
            args.xq = xq;
            K.dotRows(args);
        }
        return;
    }
    const int64_t n_tiles = (out + kTileRows - 1) / kTileRows;
    // One fp32 tile per thread, and one more for the AMX path's packed activations (memory_model.cpp counts them).
    if (static_cast<int64_t>(tiles.size()) < threads + 1) tiles.resize(static_cast<size_t>(threads + 1));
    static_assert(kTileRows % 8 == 0 && kTileRows >= 64, "packActivations packs groups of 8 rows; tileLinear 64");
    if (K.tileLinear && in % 32 == 0) {
        // Prefill on AMX: kTileRows activation rows at a time packed as bf16 hi + lo pairs (exactly one fp32 tile
        // in size, in the extra tile; the kernels, in another translation unit behind a function pointer, read it
        // only as 32-bit words), then every tile of weight rows multiplied by it, repacked 64 rows at a time in the
        // thread's own tile (bf16 as stored; fp16 split exactly into two bf16 parts, fp32 and Q8_0 into three).
        auto& pbuf = tiles[static_cast<size_t>(threads)];
        pbuf.resize(static_cast<size_t>(kTileRows * in));
        auto* packed = reinterpret_cast<uint32_t*>(pbuf.data());
        for (int64_t r0 = 0; r0 < n; r0 += kTileRows) {
            const int64_t rn = std::min(kTileRows, n - r0);
            K.packActivations(x + r0 * ldx, rn, ldx, in, packed);
#pragma omp parallel for schedule(dynamic, 1) if (n_tiles > 1)
            for (int64_t tile = 0; tile < n_tiles; ++tile) {
                auto& buf = tiles[static_cast<size_t>(omp_get_thread_num())];
                buf.resize(static_cast<size_t>(kTileRows * in));
                float* scratch = buf.data();
                const int64_t o0 = tile * kTileRows;
                K.tileLinear(linearArgs(W, nullptr, 0, rn, y + r0 * ldy, ldy, o0, std::min(out, o0 + kTileRows)),
                             packed, scratch);
            }
        }
        return;
    }
    // Prefill: tiles of kTileRows weight rows, widened once per tile (fp32 weights are used in place), then
    // one single-threaded sgemm per (tile, block of activation rows).
#pragma omp parallel for schedule(dynamic, 1) if (n_tiles > 1)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        const int64_t o0 = tile * kTileRows, o1 = std::min(out, o0 + kTileRows);
        const float* wt = nullptr;
        if (W.dtype == DType::F32) {
            wt = static_cast<const float*>(W.data) + o0 * in;
        } else {
            auto& buf = tiles[static_cast<size_t>(omp_get_thread_num())];
            buf.resize(static_cast<size_t>(kTileRows * in));
            K.widenRows(W.data, W.dtype, W.rowBytes(), in, o0, o1, buf.data());
            wt = buf.data();
        }
        constexpr int64_t kRowBlock = 256;
        for (int64_t r0 = 0; r0 < n; r0 += kRowBlock) {
            const int64_t rn = std::min(kRowBlock, n - r0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rn), static_cast<int>(o1 - o0),
                        static_cast<int>(in), 1.0f, x + r0 * ldx, static_cast<int>(ldx), wt, static_cast<int>(in), 0.0f,
                        y + r0 * ldy + o0, static_cast<int>(ldy));
        }
    }
}

// Adds a bias vector (stored dtype) to each of n rows of y (leading dim ldy).
void addBias(const Tensor& b, float* y, int64_t n, int64_t ldy) {
    std::vector<float> bias(static_cast<size_t>(b.numel()));
    loadAsFloat(b.dtype, b.data, bias.data(), b.numel());
    for (int64_t r = 0; r < n; ++r)
        for (size_t o = 0; o < bias.size(); ++o) y[r * ldy + static_cast<int64_t>(o)] += bias[o];
}

// fp32 copy of a small vector tensor (norm gains): d values per layer, read every step.
std::vector<float> vectorAsFloat(const Tensor& t) {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    loadAsFloat(t.dtype, t.data, v.data(), t.numel());
    return v;
}

void addInPlace(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 20))
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

float loadKv(const void* src, DType t, int64_t i) {
    switch (t) {
        case DType::F32: return static_cast<const float*>(src)[i];
        case DType::BF16: return bf16ToFloat(static_cast<const uint16_t*>(src)[i]);
        case DType::F16: return f16ToFloat(static_cast<const uint16_t*>(src)[i]);
    }
    return 0.0f;
}

int64_t memInfoBytes(const char* key) {
    std::ifstream f("/proc/meminfo");
    std::string k;
    int64_t v = 0;
    std::string unit;
    while (f >> k >> v >> unit)
        if (k == key) return v * 1024;
    return 0;
}

std::string cpuModelName() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0) {
            auto pos = line.find(':');
            if (pos != std::string::npos) {
                auto s = line.substr(pos + 1);
                s.erase(0, s.find_first_not_of(' '));
                return s;
            }
        }
    return "CPU";
}

// omp_set_num_threads for one step of the calling thread, restored after it (the ICV is the caller's own).
class StepThreads {
public:
    explicit StepThreads(int n) : m_saved(omp_get_max_threads()) {
        if (n != m_saved) omp_set_num_threads(n);
    }
    ~StepThreads() {
        if (omp_get_max_threads() != m_saved) omp_set_num_threads(m_saved);
    }
    StepThreads(const StepThreads&) = delete;
    StepThreads& operator=(const StepThreads&) = delete;

private:
    int m_saved;
};

// The threads a step should use: `max` less the runnable threads of other processes at this instant
// (/proc/stat procs_running minus this process's own, sampleLoad), at least one.
int freeCoreThreads(int max) {
    if (max <= 1) return max;
    const LoadSample s = sampleLoad();
    if (!s.valid || s.self_running < 0) return max;
    const int others = std::max(0, s.procs_running - std::max(s.self_running, 1));
    return std::clamp(max - others, 1, max);
}

class CpuModel final : public ModelInstance {
public:
    // Holds the Model's tensor views (its storage is shared, nothing is copied) plus fp32 working buffers sized
    // for a prefill of batch x max_seq tokens and the KV cache in kv_dtype.
    CpuModel(const Model& m, int64_t batch, int64_t max_seq)
        : m_model(m), m_cfg(m.config), m_batch(batch), m_max_seq(max_seq), m_threads(omp_get_max_threads()) {
        const auto& c = m_cfg;
        // Each layer has its own cache capacity: max_seq, or a rolling buffer of min(max_seq, its window).
        for (int64_t l = 0; l < c.n_layers; ++l) m_cap.push_back(kvCachePositions(c, l, max_seq));
        m_inv_freq = ropeInverseFrequencies(c);
        for (const auto& l : m.layers) {
            m_attn_norm.push_back(vectorAsFloat(l.attn_norm));
            m_ffn_norm.push_back(vectorAsFloat(l.ffn_norm));
        }
        m_final_norm = vectorAsFloat(m.final_norm);
        m_qkv_cols = (c.n_q_heads + 2 * c.n_kv_heads) * c.head_dim;
        const int64_t n = batch * max_seq;
        m_x.resize(static_cast<size_t>(n * c.d_model));
        m_xn.resize(static_cast<size_t>(n * c.d_model));
        m_qkv.resize(static_cast<size_t>(n * m_qkv_cols));
        m_attn.resize(static_cast<size_t>(n * c.n_q_heads * c.head_dim));
        m_ffn.resize(static_cast<size_t>(n * 2 * c.ffn_dim));
        m_logits.resize(static_cast<size_t>(batch * c.vocab_size));
        // Layer l's cache holds m_cap[l] positions per sequence: all of max_seq, or a rolling buffer of its window.
        m_k.resize(static_cast<size_t>(c.n_layers));
        m_v.resize(static_cast<size_t>(c.n_layers));
        bool rolling = false;
        for (int64_t l = 0; l < c.n_layers; ++l) {
            const int64_t kv_elems = batch * c.n_kv_heads * m_cap[static_cast<size_t>(l)] * c.head_dim;
            const size_t kv_bytes = static_cast<size_t>(kv_elems) * bytesPerElement(c.kv_dtype);
            m_k[static_cast<size_t>(l)] = LargeBuffer(kv_bytes);
            m_v[static_cast<size_t>(l)] = LargeBuffer(kv_bytes);
            rolling = rolling || m_cap[static_cast<size_t>(l)] < max_seq;
        }
        // A prefill chunk that wraps the rolling buffer attends over a linear copy of the held positions plus
        // the new ones (held + T <= max_seq), one layer at a time (estimateMemory counts it as activations).
        if (rolling) {
            const size_t lin =
                static_cast<size_t>(batch * c.n_kv_heads * max_seq * c.head_dim) * bytesPerElement(c.kv_dtype);
            m_lin_k = LargeBuffer(lin);
            m_lin_v = LargeBuffer(lin);
        }
        m_tiles.resize(static_cast<size_t>(cpuWorkerThreads() + 1));  // + the AMX path's packed activations
        const int64_t widest_in = std::max({c.d_model, c.n_q_heads * c.head_dim, c.ffn_dim});
        for (auto& t : m_tiles) t.reserve(static_cast<size_t>(kTileRows * widest_in));
    }

    Status prefill(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) override {
        return step(tokens, T, req, out);
    }
    Status decode(const int32_t* tokens, const StepRequest& req, StepOutput& out) override {
        return step(tokens, 1, req, out);
    }
    int64_t position() const override { return m_pos; }
    void reset() override { m_pos = 0; }

    Status readKvCache(int64_t layer, std::vector<float>& k, std::vector<float>& v) const override {
        if (layer < 0 || layer >= m_cfg.n_layers)
            return makeError(ErrorCode::InvalidArgument, "layer " + std::to_string(layer) + " out of range");
        const int64_t D = m_cfg.head_dim, H = m_cfg.n_kv_heads, cap = m_cap[static_cast<size_t>(layer)];
        const int64_t n = std::min(m_pos, cap), first = m_pos - n;  // positions still held, oldest first
        k.resize(static_cast<size_t>(m_batch * H * n * D));
        v.resize(k.size());
        for (int64_t b = 0; b < m_batch; ++b)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t t = 0; t < n; ++t)
                    for (int64_t e = 0; e < D; ++e) {
                        const int64_t src = ((b * H + h) * cap + (first + t) % cap) * D + e;
                        const auto dst = static_cast<size_t>(((b * H + h) * n + t) * D + e);
                        k[dst] = loadKv(m_k[static_cast<size_t>(layer)].data(), m_cfg.kv_dtype, src);
                        v[dst] = loadKv(m_v[static_cast<size_t>(layer)].data(), m_cfg.kv_dtype, src);
                    }
        return Status::ok();
    }

    Allocation allocation() const override {
        Allocation a;
        a.weight_bytes = m_model.tensorBytes();
        for (size_t l = 0; l < m_k.size(); ++l) a.kv_cache_bytes += static_cast<int64_t>(m_k[l].size() + m_v[l].size());
        int64_t tiles = 0;
        for (const auto& t : m_tiles) tiles += static_cast<int64_t>(t.capacity());
        a.activation_bytes = 4 * (static_cast<int64_t>(m_x.size() + m_xn.size() + m_qkv.size() + m_attn.size() +
                                                       m_ffn.size() + m_logits.size()) +
                                  tiles) +
                             static_cast<int64_t>(m_lin_k.size() + m_lin_v.size());
        return a;
    }

private:
    Status step(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) {
        const auto& c = m_cfg;
        if (T <= 0) return makeError(ErrorCode::InvalidArgument, "a step needs at least one token");
        if (m_pos + T > m_max_seq)
            return makeError(ErrorCode::InvalidArgument, "the KV cache holds " + std::to_string(m_max_seq) +
                                                             " positions; " + std::to_string(m_pos + T) + " requested");
        for (int64_t i = 0; i < m_batch * T; ++i)
            if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
                return makeError(ErrorCode::InvalidArgument, "token id " + std::to_string(tokens[i]) +
                                                                 " outside the vocabulary of " +
                                                                 std::to_string(c.vocab_size));
        for (int64_t l : req.maps.layers)
            if (l < 0 || l >= c.n_layers)
                return makeError(ErrorCode::InvalidArgument, "map layer " + std::to_string(l) + " out of range (0.." +
                                                                 std::to_string(c.n_layers - 1) + ")");
        for (int64_t h : req.maps.heads)
            if (h < 0 || h >= c.n_q_heads)
                return makeError(ErrorCode::InvalidArgument, "map head " + std::to_string(h) + " out of range");

        // Thread policy, per step: run on the cores no other process is using now. A step is many parallel
        // regions, each waiting at its barrier for its slowest thread, and a thread sharing its core with another
        // process loses whole scheduler ticks there. Measured with a busy loop on one of 2 cores (README,
        // "Repeatability and a loaded machine"), against the idle median: decode of a 4-layer TinyLlama-shaped
        // model 2.9x with 2 threads, 1.8-1.9x with this policy; the teaching model's prefill 2.4-2.8x with 2
        // threads, 1.4-2.0x with it. Idle, nothing changes (both threads are free). Sampling the load costs
        // ~30 us (/proc reads), a tenth of a small model's decode step, so it is re-read at most every 20 ms.
        const auto now = Clock::now();
        if (now - m_threads_checked > std::chrono::milliseconds(20)) {
            m_step_threads = freeCoreThreads(m_threads);
            m_threads_checked = now;
        }
        const StepThreads threads(m_step_threads);
        const auto t_step = Clock::now();
        const int64_t B = m_batch, d = c.d_model, D = c.head_dim, hq = c.n_q_heads, hkv = c.n_kv_heads;
        const int64_t N = B * T, F = c.ffn_dim, half = D / 2;
        out = StepOutput{};
        out.layer_ms.assign(static_cast<size_t>(c.n_layers), OpTimes{});

        // Embedding gather (rows widened from the stored dtype).
        const Tensor& emb = m_model.embedding;
        for (int64_t i = 0; i < N; ++i) loadAsFloat(emb.dtype, emb.row(tokens[i]), m_x.data() + i * d, d);
        // RoPE angles of this step's positions, shared by every layer: (T, D/2).
        std::vector<float> cs(static_cast<size_t>(T * half)), sn(cs.size());
        for (int64_t t = 0; t < T; ++t)
            cpu::ropeAngles(m_pos + t, m_inv_freq.data(), half, cs.data() + t * half, sn.data() + t * half);
        const int64_t kv_len = m_pos + T;
        const size_t kvb = bytesPerElement(c.kv_dtype);

        for (int64_t l = 0; l < c.n_layers; ++l) {
            if (req.cancel && req.cancel->load(std::memory_order_relaxed))
                return makeError(ErrorCode::Cancelled, "cancelled");
            const auto& w = m_model.layers[static_cast<size_t>(l)];
            OpTimes& ms = out.layer_ms[static_cast<size_t>(l)];
            auto t0 = Clock::now();
            cpu::rmsNorm(m_x.data(), m_attn_norm[static_cast<size_t>(l)].data(), N, d, c.norm_eps, m_xn.data());
            ms[int(Op::Norm)] += msSince(t0);

            t0 = Clock::now();
            // qkv: (B, T, Hq + 2 Hkv, D), the three projections side by side.
            linear(w.wq, m_xn.data(), N, d, m_qkv.data(), m_qkv_cols, m_tiles);
            linear(w.wk, m_xn.data(), N, d, m_qkv.data() + hq * D, m_qkv_cols, m_tiles);
            linear(w.wv, m_xn.data(), N, d, m_qkv.data() + (hq + hkv) * D, m_qkv_cols, m_tiles);
            if (c.qkv_bias) {
                addBias(w.bq, m_qkv.data(), N, m_qkv_cols);
                addBias(w.bk, m_qkv.data() + hq * D, N, m_qkv_cols);
                addBias(w.bv, m_qkv.data() + (hq + hkv) * D, N, m_qkv_cols);
            }
            ms[int(Op::Qkv)] += msSince(t0);

            t0 = Clock::now();
#pragma omp parallel for schedule(static) if (N * (hq + hkv) * D > (1 << 18))
            for (int64_t n = 0; n < N; ++n) {
                const int64_t t = n % T;
                const float* cr = cs.data() + t * half;
                const float* sr = sn.data() + t * half;
                float* row = m_qkv.data() + n * m_qkv_cols;
                for (int64_t h = 0; h < hq + hkv; ++h) cpu::ropeRotate(row + h * D, D, cr, sr);  // Q heads, K heads
            }
            ms[int(Op::Rope)] += msSince(t0);

            t0 = Clock::now();
            // Append K and V (storage dtype) at positions m_pos .. m_pos + T - 1. Cache: (B, Hkv, cap, D), position
            // t in row t % cap (a rolling buffer when the layer's sliding window makes cap < max_seq).
            const int64_t cap = m_cap[static_cast<size_t>(l)];
            auto* kc = m_k[static_cast<size_t>(l)].data();
            auto* vc = m_v[static_cast<size_t>(l)].data();
            cpu::AttnParams p;
            p.partition_threads = m_threads;
            p.q = m_qkv.data();
            p.q_sb = T * m_qkv_cols;
            p.q_sh = D;
            p.q_si = m_qkv_cols;
            p.kv_dtype = c.kv_dtype;
            p.out = m_attn.data();  // (B, T, Hq, D)
            p.o_sb = T * hq * D;
            p.o_sh = D;
            p.o_si = hq * D;
            p.batch = B;
            p.n_q_heads = hq;
            p.n_kv_heads = hkv;
            p.q_len = T;
            p.head_dim = D;
            p.causal = true;
            p.window = c.windowOf(l);
            // A chunk of several tokens that wraps the ring would overwrite keys its own first queries still see:
            // it attends over a linear copy (lin_k/lin_v: (B, Hkv, held + T, D)) of the held window and the new keys.
            const bool wraps = kv_len > cap;
            const bool linear_copy = wraps && T > 1;
            const int64_t held = linear_copy ? std::min(m_pos, cap) : 0;  // positions m_pos - held .. m_pos - 1
            if (linear_copy) {
                const int64_t L = held + T;
                const auto rowb = static_cast<size_t>(D) * kvb;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t h = 0; h < hkv; ++h)
                        for (int64_t t = 0; t < held; ++t) {
                            const auto src = static_cast<size_t>((b * hkv + h) * cap + (m_pos - held + t) % cap) * rowb;
                            const auto dst = static_cast<size_t>((b * hkv + h) * L + t) * rowb;
                            std::memcpy(m_lin_k.data() + dst, kc + src, rowb);
                            std::memcpy(m_lin_v.data() + dst, vc + src, rowb);
                        }
#pragma omp parallel for collapse(2) schedule(static) if (N * hkv * D > (1 << 18))
                for (int64_t n = 0; n < N; ++n)
                    for (int64_t h = 0; h < hkv; ++h) {
                        const int64_t b = n / T, t = n % T;
                        const float* row = m_qkv.data() + n * m_qkv_cols;
                        const int64_t dst = ((b * hkv + h) * L + held + t) * D;
                        storeAs(c.kv_dtype, row + (hq + h) * D, m_lin_k.data() + static_cast<size_t>(dst) * kvb, D);
                        storeAs(c.kv_dtype, row + (hq + hkv + h) * D, m_lin_v.data() + static_cast<size_t>(dst) * kvb,
                                D);
                    }
                p.k = m_lin_k.data();
                p.v = m_lin_v.data();
                p.kv_sb = hkv * L * D;
                p.kv_sh = L * D;
                p.kv_len = L;
            } else {
                p.k = kc;
                p.v = vc;
                p.kv_sb = hkv * cap * D;
                p.kv_sh = cap * D;
                p.kv_len = kv_len;
                p.kv_ring = wraps ? cap : 0;
            }
            p.kv_si = D;
            // Only the last cap new positions land in the ring (earlier ones would be overwritten at once).
            const int64_t t_keep = std::max<int64_t>(0, T - cap);
#pragma omp parallel for collapse(2) schedule(static) if (N * hkv * D > (1 << 18))
            for (int64_t n = 0; n < N; ++n)
                for (int64_t h = 0; h < hkv; ++h) {
                    const int64_t b = n / T, t = n % T;
                    if (t < t_keep) continue;
                    const float* row = m_qkv.data() + n * m_qkv_cols;
                    const int64_t dst = ((b * hkv + h) * cap + (m_pos + t) % cap) * D;
                    storeAs(c.kv_dtype, row + (hq + h) * D, kc + static_cast<size_t>(dst) * kvb, D);
                    storeAs(c.kv_dtype, row + (hq + hkv + h) * D, vc + static_cast<size_t>(dst) * kvb, D);
                }
            // The linear copy was taken before the ring was written, so the kernel reads only consistent keys.
            cpu::kernels().attention(p);
            ms[int(Op::Attention)] += msSince(t0);

            // Maps are not part of the timed path. Columns are absolute positions 0 .. kv_len - 1 (zeros outside
            // the window), whichever buffer the keys came from.
            if (std::find(req.maps.layers.begin(), req.maps.layers.end(), l) != req.maps.layers.end()) {
                LayerMaps lm;
                lm.layer = l;
                lm.heads = req.maps.heads;
                if (lm.heads.empty()) {
                    lm.heads.resize(static_cast<size_t>(hq));
                    std::iota(lm.heads.begin(), lm.heads.end(), 0);
                }
                const auto nh = static_cast<int64_t>(lm.heads.size());
                lm.batch = B;
                lm.q_len = T;
                lm.kv_len = kv_len;
                lm.probs.assign(static_cast<size_t>(B * nh * T * kv_len), 0.0f);
                if (linear_copy) {
                    std::vector<float> part(static_cast<size_t>(B * nh * T * p.kv_len));
                    cpu::kernels().probabilities(p, lm.heads.data(), nh, part.data());
                    const int64_t col0 = m_pos - held;
                    for (int64_t r = 0; r < B * nh * T; ++r)
                        std::copy_n(part.begin() + r * p.kv_len, p.kv_len, lm.probs.begin() + r * kv_len + col0);
                } else {
                    cpu::kernels().probabilities(p, lm.heads.data(), nh, lm.probs.data());
                }
                out.maps.push_back(std::move(lm));
            }
            if (req.capture_layers) out.layer_attn_out.emplace_back(m_attn.begin(), m_attn.begin() + N * hq * D);

            t0 = Clock::now();
            linear(w.wo, m_attn.data(), N, hq * D, m_xn.data(), d, m_tiles);
            addInPlace(m_x.data(), m_xn.data(), N * d);
            ms[int(Op::OProj)] += msSince(t0);

            t0 = Clock::now();
            cpu::rmsNorm(m_x.data(), m_ffn_norm[static_cast<size_t>(l)].data(), N, d, c.norm_eps, m_xn.data());
            ms[int(Op::Norm)] += msSince(t0);

            t0 = Clock::now();
            linear(w.w_gate, m_xn.data(), N, d, m_ffn.data(), 2 * F, m_tiles);  // (N, [gate | up])
            linear(w.w_up, m_xn.data(), N, d, m_ffn.data() + F, 2 * F, m_tiles);
            cpu::swiglu(m_ffn.data(), N, F);
            linear(w.w_down, m_ffn.data(), N, 2 * F, m_xn.data(), d, m_tiles);
            addInPlace(m_x.data(), m_xn.data(), N * d);
            ms[int(Op::Ffn)] += msSince(t0);

            if (req.capture_layers) out.layer_hidden.emplace_back(m_x.begin(), m_x.begin() + N * d);
            if (req.layers_done) req.layers_done->fetch_add(1, std::memory_order_relaxed);
        }
        auto t0 = Clock::now();
        out.hidden.resize(static_cast<size_t>(N * d));
        cpu::rmsNorm(m_x.data(), m_final_norm.data(), N, d, c.norm_eps, out.hidden.data());
        out.final_norm_ms = msSince(t0);

        // LM head on the final-normed hidden state: every position, or each sequence's last one.
        t0 = Clock::now();
        const Tensor& head = m_model.lmHead();
        const int64_t V = c.vocab_size;
        if (req.logits == LogitsMode::All) {
            try {
                out.logits.resize(static_cast<size_t>(N * V));
            } catch (const std::bad_alloc&) {
                return makeError(ErrorCode::OutOfMemory, "not enough memory for the logits of " + std::to_string(N) +
                                                             " positions x " + std::to_string(V) + " tokens");
            }
            linear(head, out.hidden.data(), N, d, out.logits.data(), V, m_tiles);
        } else if (req.logits == LogitsMode::Last) {
            // The last position of every sequence, gathered into (B, d) in m_xn.
            for (int64_t b = 0; b < B; ++b)
                std::copy_n(out.hidden.begin() + (b * T + T - 1) * d, d, m_xn.begin() + b * d);
            linear(head, m_xn.data(), B, d, m_logits.data(), V, m_tiles);
            out.logits.assign(m_logits.begin(), m_logits.begin() + B * V);
        }
        out.lm_head_ms = req.logits == LogitsMode::None ? 0.0 : msSince(t0);
        m_pos += T;
        out.total_ms = msSince(t_step);
        return Status::ok();
    }

    Model m_model;  // tensor views; the storage stays shared with the caller's Model
    ModelConfig m_cfg;
    int64_t m_batch, m_max_seq;
    int m_threads;  // the creating thread's OpenMP maximum: what each step may use, and what splits are planned for
    int m_step_threads = 1;                 // what the last load sample left free (freeCoreThreads)
    Clock::time_point m_threads_checked{};  // when that sample was taken (never: the first step samples)
    std::vector<int64_t> m_cap;  // per layer: KV positions held per sequence, max_seq or min(max_seq, window)
    int64_t m_pos = 0, m_qkv_cols = 0;
    std::vector<double> m_inv_freq;
    std::vector<std::vector<float>> m_attn_norm, m_ffn_norm;  // per layer (d), fp32
    std::vector<float> m_final_norm;
    std::vector<float> m_x, m_xn, m_qkv, m_attn, m_ffn, m_logits;  // activations, fp32
    std::vector<LargeBuffer> m_k, m_v;                             // per layer (B, Hkv, m_cap, D), storage dtype
    LargeBuffer m_lin_k, m_lin_v;             // (B, Hkv, <= max_seq, D): a wrapping chunk's keys, linear
    std::vector<std::vector<float>> m_tiles;  // per thread: fp32 weight tile of a prefill GEMM
};

class CpuBackend final : public Backend {
public:
    CpuBackend() {
        openblas_set_num_threads(1);
        // Warm-up: OpenBLAS allocates its per-thread buffers on the first call, which would otherwise land in
        // the first layer's timing of the first run.
        static std::once_flag warm;
        std::call_once(warm, [] {
#pragma omp parallel
            {
                std::vector<float> a(64 * 64, 1.0f), y(64 * 64);
                gemm(a.data(), 64, a.data(), y.data(), 64, 64, 64);
            }
        });
    }
    std::string name() const override {
        return "cpu";
    }
    DeviceInfo deviceInfo() const override {
        DeviceInfo d;
        d.backend = "cpu";
        d.threads = omp_get_max_threads();
        d.name = cpuModelName() + " (" + std::to_string(d.threads) + " threads, " + cpu::kernels().isa + ")";
        d.total_bytes = memInfoBytes("MemTotal:");
        d.available_bytes = memInfoBytes("MemAvailable:");
        return d;
    }
    Expected<std::unique_ptr<ModelInstance>> createModel(const Model& w, int64_t batch, int64_t max_seq) override {
        GQA_TRY(validateModel(w));
        if (batch <= 0 || max_seq <= 0 || max_seq > w.config.max_seq)
            return makeError(ErrorCode::InvalidArgument, "batch and cache length must be positive and within max_seq");
        // Predict before allocating. The weights are already resident (mapped or owned by the Model), so only
        // what this instance adds is checked against what is available now.
        ModelConfig c = w.config;
        const MemoryEstimate est = estimateMemory(c, batch, max_seq);
        const int64_t adds = est.kv_cache_bytes + est.activation_bytes;
        const int64_t avail = deviceInfo().available_bytes;
        FitReport fit;
        fit.fits = adds <= static_cast<int64_t>(static_cast<double>(avail) * 0.9);
        fit.message = "the KV cache and working buffers need " + formatBytes(adds) + " but " + formatBytes(avail) +
                      " are available";
        if (!fit.fits)
            return makeError(ErrorCode::OutOfMemory, "the model does not fit in host memory: " + fit.message);
        try {
            return std::unique_ptr<ModelInstance>(std::make_unique<CpuModel>(w, batch, max_seq));
        } catch (const std::bad_alloc&) {
            return makeError(ErrorCode::OutOfMemory, "allocation failed while creating the model");
        }
    }

    Status attention(const AttentionShape& s, const float* q, const void* k, const void* v, DType kv_dtype, float* out,
                     float* probs) override {
        GQA_TRY(s.validate());
        const cpu::AttnParams p = contiguous(s, q, k, v, kv_dtype, out);
        cpu::kernels().attention(p);
        if (probs) {
            std::vector<int64_t> heads(static_cast<size_t>(s.n_q_heads));
            std::iota(heads.begin(), heads.end(), 0);
            cpu::kernels().probabilities(p, heads.data(), s.n_q_heads, probs);
        }
        return Status::ok();
    }

    Expected<TimingStats> timeAttentionStats(const AttentionShape& s, DType kv_dtype,
                                             const RepeatPolicy& policy) override {
        GQA_TRY(s.validate());
        const int64_t kv_elems = s.batch * s.n_kv_heads * s.kv_len * s.head_dim;
        // With a sliding window only keys [first, kv_len) are read: the copies are sized (and filled) by those,
        // so the rotation still streams from DRAM; the rows before `first` are never touched (left unallocated
        // pages of an uninitialized buffer).
        const int64_t first = s.window > 0 ? std::max<int64_t>(0, s.kv_len - s.q_len - s.window + 1) : 0;
        const int64_t rows = s.kv_len - first;
        const size_t eb = bytesPerElement(kv_dtype);
        const int64_t read_bytes = 2 * s.batch * s.n_kv_heads * rows * s.head_dim * static_cast<int64_t>(eb);
        // Enough copies that every shape rotates through at least 256 MiB and twice the L3 (480 MiB on some
        // servers), small ones included: a small cache (MQA: one KV head) would otherwise stay in the L3 and
        // overstate the bandwidth.
        const int64_t l3_bytes = std::max<int64_t>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
        const int64_t rotate_bytes = std::max<int64_t>(256ll << 20, 2 * l3_bytes);
        int64_t copies = std::clamp<int64_t>((rotate_bytes + read_bytes - 1) / std::max<int64_t>(read_bytes, 1), 1,
                                             int64_t{1} << 16);
        // Predict before allocating: one K and one V per copy plus Q and the output. Fewer copies when the
        // rotation does not fit (a large cache streams from DRAM anyway); none fitting is refused.
        const int64_t copy_bytes = 2 * kv_elems * static_cast<int64_t>(eb);
        const int64_t fixed_bytes = 2 * s.batch * s.n_q_heads * s.q_len * s.head_dim * 4;
        const int64_t avail = memInfoBytes("MemAvailable:");  // 0 where /proc/meminfo cannot be read
        const int64_t budget = static_cast<int64_t>(static_cast<double>(avail) * 0.8);
        if (avail > 0) copies = std::min(copies, (budget - fixed_bytes) / std::max<int64_t>(copy_bytes, 1));
        if (copies < 1)
            return makeError(ErrorCode::OutOfMemory, "timing this attention shape needs " +
                                                         formatBytes(copy_bytes + fixed_bytes) + " but " +
                                                         formatBytes(budget) + " are available to it");
        try {
            std::vector<float> q(static_cast<size_t>(s.batch * s.n_q_heads * s.q_len * s.head_dim));
            std::vector<float> o(q.size());
            Rng rng(42);
            for (auto& x : q) x = static_cast<float>(rng.normal());
            std::vector<LargeBuffer> ks(static_cast<size_t>(copies)), vs(static_cast<size_t>(copies));
            // One random head of K and one of V in the cache dtype, copied into every head of every copy: the
            // timing depends on addresses, not values, and drawing gigabytes of normals took longer than timing.
            const size_t head_bytes = static_cast<size_t>(rows * s.head_dim) * eb;
            std::vector<float> tmp(static_cast<size_t>(rows * s.head_dim));
            std::vector<unsigned char> k_head(head_bytes), v_head(head_bytes);
            for (auto* h : {&k_head, &v_head}) {
                for (auto& x : tmp) x = static_cast<float>(rng.normal());
                storeAs(kv_dtype, tmp.data(), h->data(), rows * s.head_dim);
            }
            auto fill = [&](unsigned char* dst, const std::vector<unsigned char>& head) {
                // (B, Hkv, kv_len, D): rows first .. kv_len - 1 of every head
                for (int64_t bh = 0; bh < s.batch * s.n_kv_heads; ++bh)
                    std::memcpy(dst + static_cast<size_t>((bh * s.kv_len + first) * s.head_dim) * eb, head.data(),
                                head_bytes);
            };
            for (int64_t c = 0; c < copies; ++c) {
                ks[static_cast<size_t>(c)] = LargeBuffer(static_cast<size_t>(kv_elems) * eb);
                vs[static_cast<size_t>(c)] = LargeBuffer(static_cast<size_t>(kv_elems) * eb);
                fill(ks[static_cast<size_t>(c)].data(), k_head);
                fill(vs[static_cast<size_t>(c)].data(), v_head);
            }
            Repeater rep(policy);
            for (int64_t it = 0; rep.keepGoing(); ++it) {
                const auto c = static_cast<size_t>(it % copies);
                const auto p = contiguous(s, q.data(), ks[c].data(), vs[c].data(), kv_dtype, o.data());
                const auto t0 = Clock::now();
                cpu::kernels().attention(p);
                rep.add(msSince(t0));
            }
            return summarize(rep.samples());
        } catch (const std::bad_alloc&) {
            return makeError(ErrorCode::OutOfMemory, "not enough memory to time this attention shape");
        }
    }

    Expected<Ceilings> measureCeilings() override {
        Ceilings c;
        try {
            // Read bandwidth: a 512 MiB buffer (16x the L3) in the huge pages the kernels' buffers get too: on
            // 4 KiB pages a VM's page walks held the probe 10-15% below what the decode step then read.
            const int64_t n = (512ll << 20) / 4;
            LargeBuffer mem(static_cast<size_t>(n) * 4);
            auto* buf = reinterpret_cast<float*>(mem.data());
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i & 1023) * 1e-3f;
            // Median of 7 passes: a single fast pass (seen here once at twice the usual rate on a VM) must
            // not set the ceiling that everything else is judged against.
            std::vector<double> passes;
            double sink = 0.0;
            for (int r = 0; r < 7; ++r) {
                const auto t0 = Clock::now();
                sink += cpu::kernels().readBandwidthProbe(buf, n);
                passes.push_back(msSince(t0));
            }
            std::sort(passes.begin(), passes.end());
            c.mem_bw_bytes_per_s = static_cast<double>(n) * 4.0 / (passes[3] * 1e-3);
            double best = 1e30;
            // GEMM rate: fp32 1024^3 through OpenBLAS, best of 5.
            const int64_t m = 1024;
            std::vector<float> a(static_cast<size_t>(m * m), 0.5f), b(a.size(), 0.25f), y(a.size());
            gemm(a.data(), m, b.data(), y.data(), m, m, m);
            best = 1e30;
            for (int r = 0; r < 5; ++r) {
                const auto t0 = Clock::now();
                gemm(a.data(), m, b.data(), y.data(), m, m, m);
                best = std::min(best, msSince(t0));
            }
            c.gemm_flops_per_s = 2.0 * static_cast<double>(m * m * m) / (best * 1e-3);
            c.note = "median read bandwidth of a 512 MiB buffer (" + std::to_string(omp_get_max_threads()) +
                     " threads) and OpenBLAS fp32 GEMM 1024^3" + (sink == 42.0 ? "" : "");
        } catch (const std::bad_alloc&) {
            return makeError(ErrorCode::OutOfMemory, "not enough memory to measure the ceilings");
        }
        return c;
    }

private:
    static cpu::AttnParams contiguous(const AttentionShape& s, const float* q, const void* k, const void* v,
                                      DType kv_dtype, float* out) {
        cpu::AttnParams p;
        p.q = q;
        p.q_si = s.head_dim;
        p.q_sh = s.q_len * s.head_dim;
        p.q_sb = s.n_q_heads * p.q_sh;
        p.k = k;
        p.v = v;
        p.kv_si = s.head_dim;
        p.kv_sh = s.kv_len * s.head_dim;
        p.kv_sb = s.n_kv_heads * p.kv_sh;
        p.kv_dtype = kv_dtype;
        p.out = out;
        p.o_si = p.q_si;
        p.o_sh = p.q_sh;
        p.o_sb = p.q_sb;
        p.batch = s.batch;
        p.n_q_heads = s.n_q_heads;
        p.n_kv_heads = s.n_kv_heads;
        p.q_len = s.q_len;
        p.kv_len = s.kv_len;
        p.head_dim = s.head_dim;
        p.causal = s.causal;
        p.window = s.window;
        return p;
    }
};

}  // namespace

std::unique_ptr<Backend> createCpuBackend() {
    return std::make_unique<CpuBackend>();
}

Status AttentionShape::validate() const {
    auto bad = [](std::string m) { return Status(makeError(ErrorCode::InvalidArgument, std::move(m))); };
    if (batch <= 0 || n_q_heads <= 0 || n_kv_heads <= 0 || q_len <= 0 || kv_len <= 0 || head_dim <= 0)
        return bad("attention sizes must be positive");
    if (n_q_heads % n_kv_heads != 0)
        return bad("n_q_heads (" + std::to_string(n_q_heads) + ") is not a multiple of n_kv_heads (" +
                   std::to_string(n_kv_heads) + ")");
    if (causal && q_len > kv_len)
        return bad("causal attention needs q_len (" + std::to_string(q_len) + ") <= kv_len (" + std::to_string(kv_len) +
                   ")");
    if (head_dim > 1024) return bad("head_dim above 1024 is not supported");
    if (window < 0) return bad("the sliding window cannot be negative");
    if (window > 0 && !causal) return bad("a sliding window needs causal attention");
    // Every buffer of this shape is indexed with int64 (and sized in bytes): refuse sizes whose products
    // overflow long before anything is allocated.
    const auto q_elems = checkedProduct({batch, n_q_heads, q_len, head_dim});
    const auto kv_elems = checkedProduct({batch, n_kv_heads, kv_len, head_dim, 4});
    const auto p_elems = checkedProduct({batch, n_q_heads, q_len, kv_len, 4});
    if (!q_elems || !kv_elems || !p_elems || *q_elems > (int64_t{1} << 40))
        return bad("attention sizes are too large (their element counts overflow)");
    return Status::ok();
}

}  // namespace gqa
