#include "cuda_backend.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "attention.h"
#include "cuda_check.h"
#include "cuda_model.h"
#include "device_buffer.h"
#include "elementwise.h"
#include "gqa/memory_model.h"

namespace gqa::cuda {

namespace {

Error unavailable(const std::string& m) {
    return makeError(ErrorCode::Unavailable, m);
}
Error invalid(const std::string& m) {
    return makeError(ErrorCode::InvalidArgument, m);
}

// Contiguous layouts of Backend::attention: q/out (B, Hq, Tq, D), k/v (B, Hkv, Tk, D).
AttentionParams contiguousParams(const AttentionShape& s, DType kv_dtype) {
    AttentionParams p;
    p.batch = s.batch;
    p.n_q_heads = s.n_q_heads;
    p.n_kv_heads = s.n_kv_heads;
    p.q_len = s.q_len;
    p.kv_len = s.kv_len;
    p.head_dim = s.head_dim;
    p.causal = s.causal;
    p.window = s.window;
    p.kv_dtype = kv_dtype;
    p.q_si = p.o_si = s.head_dim;
    p.q_sh = p.o_sh = s.q_len * s.head_dim;
    p.q_sb = p.o_sb = s.n_q_heads * s.q_len * s.head_dim;
    p.kv_si = s.head_dim;
    p.kv_sh = s.kv_len * s.head_dim;
    p.kv_sb = s.n_kv_heads * s.kv_len * s.head_dim;
    return p;
}

// Device Q, K, V, output and split-K scratch of one contiguous attention problem, and its params:
// what Backend::attention and timeAttention both run on.
struct AttentionIo {
    DeviceBuffer q, k, v, out, ws;
    AttentionParams p;
    std::size_t ws_floats = 0;

    Status allocate(const AttentionShape& s, DType kv_dtype, int num_sms) {
        const std::size_t e = bytesPerElement(kv_dtype);
        const auto nq = static_cast<std::size_t>(s.batch * s.n_q_heads * s.q_len * s.head_dim);
        const auto nkv = static_cast<std::size_t>(s.batch * s.n_kv_heads * s.kv_len * s.head_dim);
        GQA_TRY(q.allocate(nq * 4, "attention Q"));
        GQA_TRY(k.allocate(nkv * e, "attention K"));
        GQA_TRY(v.allocate(nkv * e, "attention V"));
        GQA_TRY(out.allocate(nq * 4, "attention output"));
        p = contiguousParams(s, kv_dtype);
        p.q = q.as<float>();
        p.k = k.data();
        p.v = v.data();
        p.out = out.as<float>();
        GQA_TRY(checkAttentionParams(p));
        ws_floats = attentionWorkspaceFloats(p, num_sms);
        return ws.allocate(ws_floats * 4, "split-K attention scratch");
    }
};

double median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (static_cast<double>(v[n / 2 - 1]) + v[n / 2]);
}

}  // namespace

Expected<DeviceSummary> probeDevice(int device) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        switch (e) {
            case cudaErrorInsufficientDriver:
                return unavailable(
                    "no NVIDIA driver, or one older than this CUDA runtime (cudaErrorInsufficientDriver)");
            case cudaErrorStubLibrary:
                return unavailable(
                    "only the CUDA driver stub library is installed, no NVIDIA driver (cudaErrorStubLibrary)");
            case cudaErrorNoDevice: return unavailable("no CUDA-capable GPU (cudaErrorNoDevice)");
            default:
                return unavailable(std::string("CUDA is not usable: ") + cudaGetErrorString(e) + " (" +
                                   cudaGetErrorName(e) + ")");
        }
    }
    if (count <= device) return unavailable("no CUDA-capable GPU (device count " + std::to_string(count) + ")");
    cudaDeviceProp props{};
    GQA_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
    if (props.major < 8)
        return unavailable(std::string(props.name) + " has compute capability " + std::to_string(props.major) + "." +
                           std::to_string(props.minor) + "; the GQA Lab CUDA kernels need 8.0 (Ampere) or newer");
    GQA_CUDA_CHECK(cudaSetDevice(device));
    GQA_TRY(checkKernelImage());
    DeviceSummary d;
    d.device = device;
    d.name = props.name;
    d.sm_major = props.major;
    d.sm_minor = props.minor;
    d.num_sms = props.multiProcessorCount;
    return d;
}

Expected<std::shared_ptr<DeviceContext>> DeviceContext::create(int device) {
    std::shared_ptr<DeviceContext> ctx(new DeviceContext());
    ctx->m_device = device;
    GQA_CUDA_CHECK(cudaSetDevice(device));
    GQA_CUDA_CHECK(cudaGetDeviceProperties(&ctx->m_props, device));
    GQA_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->m_stream, cudaStreamNonBlocking));
    GQA_CUDA_CHECK(cublasCreate(&ctx->m_cublas));
    GQA_CUDA_CHECK(cublasSetStream(ctx->m_cublas, ctx->m_stream));
    // Default math: fp32 GEMMs stay fp32 (no TF32); fp16/bf16 GEMMs use tensor cores.
    GQA_CUDA_CHECK(cublasSetMathMode(ctx->m_cublas, CUBLAS_DEFAULT_MATH));
    return ctx;
}

DeviceContext::~DeviceContext() {
    if (m_cublas) GQA_CUDA_CHECK_CLEANUP(cublasDestroy(m_cublas));
    if (m_stream) GQA_CUDA_CHECK_CLEANUP(cudaStreamDestroy(m_stream));
}

Status DeviceContext::activate() const {
    GQA_CUDA_CHECK(cudaSetDevice(m_device));
    return Status::ok();
}

Expected<std::unique_ptr<CudaBackend>> CudaBackend::create(int device) {
    auto summary = probeDevice(device);
    if (!summary) return summary.error();
    auto ctx = DeviceContext::create(device);
    if (!ctx) return ctx.error();
    return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(ctx.value())));
}

DeviceInfo CudaBackend::deviceInfo() const {
    DeviceInfo info;
    info.backend = "cuda";
    info.name = m_ctx->props().name;
    info.threads = m_ctx->numSms();  // streaming multiprocessors
    std::size_t free_b = 0, total_b = 0;
    if (m_ctx->activate().isOk() &&
        checkCall(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo", __FILE__, __LINE__).isOk()) {
        info.total_bytes = static_cast<int64_t>(total_b);
        info.available_bytes = static_cast<int64_t>(free_b);
    } else {
        info.total_bytes = static_cast<int64_t>(m_ctx->props().totalGlobalMem);
    }
    return info;
}

Expected<std::unique_ptr<ModelInstance>> CudaBackend::createModel(const Model& m, int64_t batch, int64_t max_seq) {
    // The CUDA cache is linear (max_seq positions); the rolling buffer of a window shorter than that is CPU-only.
    for (int64_t l = 0; l < m.config.n_layers; ++l)
        if (const int64_t w = m.config.windowOf(l); w > 0 && w < max_seq)
            return unavailable(
                "sliding windows run on the CPU backend: the CUDA KV cache is not a rolling buffer "
                "(layer " +
                std::to_string(l) + ": window " + std::to_string(w) + " < cache length " + std::to_string(max_seq) +
                ")");
    return CudaModel::create(m_ctx, m, batch, max_seq);
}

Status CudaBackend::attention(const AttentionShape& s, const float* q, const void* k, const void* v, DType kv_dtype,
                              float* out, float* probs) {
    GQA_TRY(s.validate());
    if (kv_dtype == DType::Q8_0) return invalid("attention: K/V must be fp32, fp16 or bf16, not q8_0");
    if (!q || !k || !v || !out) return invalid("attention: null input or output pointer");
    GQA_TRY(m_ctx->activate());
    const cudaStream_t stream = m_ctx->stream();
    const std::size_t e = bytesPerElement(kv_dtype);
    const auto nq = static_cast<std::size_t>(s.batch * s.n_q_heads * s.q_len * s.head_dim);
    const auto nkv = static_cast<std::size_t>(s.batch * s.n_kv_heads * s.kv_len * s.head_dim);
    const auto np = static_cast<std::size_t>(s.batch * s.n_q_heads * s.q_len * s.kv_len);

    AttentionIo io;
    GQA_TRY(io.allocate(s, kv_dtype, m_ctx->numSms()));
    const AttentionParams& p = io.p;
    DeviceBuffer dprobs, dheads;

    GQA_CUDA_CHECK(cudaMemcpyAsync(io.q.data(), q, nq * 4, cudaMemcpyHostToDevice, stream));
    GQA_CUDA_CHECK(cudaMemcpyAsync(io.k.data(), k, nkv * e, cudaMemcpyHostToDevice, stream));
    GQA_CUDA_CHECK(cudaMemcpyAsync(io.v.data(), v, nkv * e, cudaMemcpyHostToDevice, stream));
    Status st = runAttention(p, io.ws.as<float>(), io.ws_floats, m_ctx->numSms(), stream);
    if (st.isOk() && probs) {
        std::vector<int32_t> heads(static_cast<std::size_t>(s.n_q_heads));
        std::iota(heads.begin(), heads.end(), 0);
        st = dprobs.allocate(np * 4, "attention probabilities");
        if (st.isOk()) st = dheads.allocate(heads.size() * 4, "attention head list");
        if (st.isOk())
            st = checkCall(
                cudaMemcpyAsync(dheads.data(), heads.data(), heads.size() * 4, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync(heads)", __FILE__, __LINE__);
        if (st.isOk()) st = runAttentionProbs(p, dheads.as<int32_t>(), s.n_q_heads, dprobs.as<float>(), stream);
    }
    if (!st.isOk()) {
        GQA_CUDA_CHECK_CLEANUP(cudaStreamSynchronize(stream));  // nothing queued may outlive the buffers
        return st;
    }
    GQA_CUDA_CHECK(cudaMemcpyAsync(out, io.out.data(), nq * 4, cudaMemcpyDeviceToHost, stream));
    if (probs) GQA_CUDA_CHECK(cudaMemcpyAsync(probs, dprobs.data(), np * 4, cudaMemcpyDeviceToHost, stream));
    GQA_CUDA_CHECK(cudaStreamSynchronize(stream));
    return Status::ok();
}

Expected<TimingStats> CudaBackend::timeAttentionStats(const AttentionShape& s, DType kv_dtype,
                                                      const RepeatPolicy& policy) {
    GQA_TRY(s.validate());
    if (kv_dtype == DType::Q8_0) return invalid("timeAttention: K/V must be fp32, fp16 or bf16, not q8_0");
    const int iterations = policy.repeats > 0 ? policy.repeats : std::max(1, policy.max_repeats);
    GQA_TRY(m_ctx->activate());
    const cudaStream_t stream = m_ctx->stream();
    const std::size_t e = bytesPerElement(kv_dtype);
    const auto nq = static_cast<std::size_t>(s.batch * s.n_q_heads * s.q_len * s.head_dim);
    const auto nkv = static_cast<std::size_t>(s.batch * s.n_kv_heads * s.kv_len * s.head_dim);
    // The L2 is flushed between iterations (not timed), so K/V come from HBM as in a real decode step.
    const std::size_t flush_bytes =
        std::max<std::size_t>(2 * static_cast<std::size_t>(m_ctx->props().l2CacheSize), 8u << 20);
    const std::size_t need = nq * 8 + 2 * nkv * e + flush_bytes;
    std::size_t free_b = 0, total_b = 0;
    GQA_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    if (static_cast<double>(need) > 0.9 * static_cast<double>(free_b))
        return makeError(ErrorCode::OutOfMemory, "timing this attention shape needs " +
                                                     formatBytes(static_cast<int64_t>(need)) + " of GPU memory; " +
                                                     formatBytes(static_cast<int64_t>(free_b)) + " are free");

    AttentionIo io;
    GQA_TRY(io.allocate(s, kv_dtype, m_ctx->numSms()));
    const AttentionParams& p = io.p;
    const std::size_t ws = io.ws_floats;
    DeviceBuffer dflush;
    GQA_TRY(dflush.allocate(flush_bytes, "L2 flush buffer"));
    // Random inputs (never zeros: zero K makes every softmax uniform and hides masking bugs).
    GQA_TRY(launchFillUniform(io.q.data(), DType::F32, static_cast<int64_t>(nq), 1, -1.f, 1.f, stream));
    GQA_TRY(launchFillUniform(io.k.data(), kv_dtype, static_cast<int64_t>(nkv), 2, -1.f, 1.f, stream));
    GQA_TRY(launchFillUniform(io.v.data(), kv_dtype, static_cast<int64_t>(nkv), 3, -1.f, 1.f, stream));

    EventSet ev;
    GQA_TRY(ev.create(2 * static_cast<std::size_t>(iterations)));
    Status st = Status::ok();
    const int warmup = std::max(3, policy.warmup);
    for (int i = 0; i < warmup && st.isOk(); ++i) st = runAttention(p, io.ws.as<float>(), ws, m_ctx->numSms(), stream);
    for (int i = 0; i < iterations && st.isOk(); ++i) {
        st = checkCall(cudaMemsetAsync(dflush.data(), i & 0xff, flush_bytes, stream), "cudaMemsetAsync(flush)",
                       __FILE__, __LINE__);
        if (st.isOk()) st = checkCall(cudaEventRecord(ev[2 * i], stream), "cudaEventRecord", __FILE__, __LINE__);
        if (st.isOk()) st = runAttention(p, io.ws.as<float>(), ws, m_ctx->numSms(), stream);
        if (st.isOk()) st = checkCall(cudaEventRecord(ev[2 * i + 1], stream), "cudaEventRecord", __FILE__, __LINE__);
    }
    const Status synced = checkCall(cudaStreamSynchronize(stream), "cudaStreamSynchronize", __FILE__, __LINE__);
    GQA_TRY(st);
    GQA_TRY(synced);
    std::vector<double> ms(static_cast<std::size_t>(iterations));
    for (int i = 0; i < iterations; ++i) {
        float t = 0.f;
        GQA_CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]));
        ms[static_cast<std::size_t>(i)] = t;
    }
    return summarize(std::move(ms));
}

Expected<Ceilings> CudaBackend::measureCeilings() {
    GQA_TRY(m_ctx->activate());
    const cudaStream_t stream = m_ctx->stream();
    std::size_t free_b = 0, total_b = 0;
    GQA_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    constexpr int kRuns = 10;
    Ceilings c;

    // Memory: device-to-device copies, read + written bytes counted.
    std::size_t copy_bytes = std::min<std::size_t>(std::size_t{1} << 30, free_b / 8) & ~((std::size_t{1} << 20) - 1);
    if (copy_bytes < (std::size_t{16} << 20))
        return makeError(ErrorCode::OutOfMemory,
                         "measuring the memory ceiling needs at least 128 MiB of free GPU memory");
    {
        DeviceBuffer a, b;
        GQA_TRY(a.allocate(copy_bytes, "the bandwidth probe source"));
        GQA_TRY(b.allocate(copy_bytes, "the bandwidth probe destination"));
        GQA_CUDA_CHECK(cudaMemsetAsync(a.data(), 1, copy_bytes, stream));
        EventSet ev;
        GQA_TRY(ev.create(2 * kRuns));
        for (int i = 0; i < 2; ++i)
            GQA_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), copy_bytes, cudaMemcpyDeviceToDevice, stream));
        for (int i = 0; i < kRuns; ++i) {
            GQA_CUDA_CHECK(cudaEventRecord(ev[2 * i], stream));
            GQA_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), copy_bytes, cudaMemcpyDeviceToDevice, stream));
            GQA_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], stream));
        }
        GQA_CUDA_CHECK(cudaStreamSynchronize(stream));
        std::vector<float> ms(kRuns);
        for (int i = 0; i < kRuns; ++i) GQA_CUDA_CHECK(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]));
        c.mem_bw_bytes_per_s = 2.0 * static_cast<double>(copy_bytes) / (median(ms) * 1e-3);
    }

    // Compute: a large bf16 GEMM on tensor cores, fp32 accumulation, bf16 output.
    int64_t n = 8192;
    while (n > 1024 && static_cast<double>(3 * n * n * 2) > 0.5 * static_cast<double>(free_b)) n /= 2;
    {
        DeviceBuffer a, b, out;
        const auto bytes = static_cast<std::size_t>(n * n * 2);
        GQA_TRY(a.allocate(bytes, "the GEMM probe A"));
        GQA_TRY(b.allocate(bytes, "the GEMM probe B"));
        GQA_TRY(out.allocate(bytes, "the GEMM probe C"));
        GQA_TRY(launchFillUniform(a.data(), DType::BF16, n * n, 11, -1.f, 1.f, stream));
        GQA_TRY(launchFillUniform(b.data(), DType::BF16, n * n, 12, -1.f, 1.f, stream));
        const float alpha = 1.f, beta = 0.f;
        const int ni = static_cast<int>(n);
        auto gemm = [&]() -> Status {
            GQA_CUDA_CHECK(cublasGemmEx(m_ctx->cublas(), CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &alpha, a.data(),
                                        CUDA_R_16BF, ni, b.data(), CUDA_R_16BF, ni, &beta, out.data(), CUDA_R_16BF, ni,
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
            return Status::ok();
        };
        EventSet ev;
        GQA_TRY(ev.create(2 * kRuns));
        for (int i = 0; i < 3; ++i) GQA_TRY(gemm());
        for (int i = 0; i < kRuns; ++i) {
            GQA_CUDA_CHECK(cudaEventRecord(ev[2 * i], stream));
            GQA_TRY(gemm());
            GQA_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], stream));
        }
        GQA_CUDA_CHECK(cudaStreamSynchronize(stream));
        std::vector<float> ms(kRuns);
        for (int i = 0; i < kRuns; ++i) GQA_CUDA_CHECK(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]));
        c.gemm_flops_per_s =
            2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / (median(ms) * 1e-3);
    }
    c.note = "cudaMemcpy device-to-device of " + formatBytes(static_cast<int64_t>(copy_bytes)) +
             " (read + written bytes); cuBLAS bf16 GEMM " + std::to_string(n) +
             "^3 with fp32 accumulation; medians of " + std::to_string(kRuns) + " runs on " + m_ctx->props().name;
    return c;
}

}  // namespace gqa::cuda
