// The CUDA backend: gqa::Backend on device 0, plus the device context its models share.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <string>

#include "gqa/backend.h"

namespace gqa::cuda {

// What a usable device looks like; Unavailable errors say why there is none (no driver, no GPU, too old,
// no kernels in this build for its architecture).
struct DeviceSummary {
    int device = 0;
    std::string name;
    int sm_major = 0, sm_minor = 0;
    int num_sms = 0;
};
Expected<DeviceSummary> probeDevice(int device);

// One stream and one cuBLAS handle, shared by the backend and every model it created (a model may outlive
// the backend object), released when the last owner goes.
class DeviceContext {
public:
    static Expected<std::shared_ptr<DeviceContext>> create(int device);
    ~DeviceContext();
    DeviceContext(const DeviceContext&) = delete;
    DeviceContext& operator=(const DeviceContext&) = delete;

    // Makes this context's device current for the calling thread (the engine's worker thread may change).
    Status activate() const;
    int device() const { return m_device; }
    const cudaDeviceProp& props() const { return m_props; }
    int numSms() const { return m_props.multiProcessorCount; }
    cudaStream_t stream() const { return m_stream; }
    cublasHandle_t cublas() const { return m_cublas; }

private:
    DeviceContext() = default;
    int m_device = 0;
    cudaDeviceProp m_props{};
    cudaStream_t m_stream = nullptr;
    cublasHandle_t m_cublas = nullptr;
};

class CudaBackend final : public Backend {
public:
    static Expected<std::unique_ptr<CudaBackend>> create(int device);

    std::string name() const override { return "cuda"; }
    DeviceInfo deviceInfo() const override;
    // Uploads `m` in its stored dtypes (F32/F16/BF16 matrices; Q8_0 models are refused: they run on the CPU).
    Expected<std::unique_ptr<ModelInstance>> createModel(const Model& m, int64_t batch, int64_t max_seq) override;
    Status attention(const AttentionShape& s, const float* q, const void* k, const void* v, DType kv_dtype, float* out,
                     float* probs) override;
    // A fixed repeat count (policy.repeats, or policy.max_repeats when adaptive): the events are read after one sync.
    Expected<TimingStats> timeAttentionStats(const AttentionShape& s, DType kv_dtype,
                                             const RepeatPolicy& policy) override;
    Expected<Ceilings> measureCeilings() override;

private:
    explicit CudaBackend(std::shared_ptr<DeviceContext> ctx) : m_ctx(std::move(ctx)) {}
    std::shared_ptr<DeviceContext> m_ctx;
};

}  // namespace gqa::cuda
