#include "device_buffer.h"

#include "cuda_check.h"
#include "gqa/memory_model.h"

namespace gqa::cuda {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        release();
        m_ptr = o.m_ptr;
        m_bytes = o.m_bytes;
        o.m_ptr = nullptr;
        o.m_bytes = 0;
    }
    return *this;
}

Status DeviceBuffer::allocate(std::size_t bytes, const std::string& what) {
    release();
    if (bytes == 0) return Status::ok();
    void* p = nullptr;
    const Status s = checkCall(cudaMalloc(&p, bytes), "cudaMalloc(&p, bytes)", __FILE__, __LINE__);
    if (!s.isOk())
        return withContext(s.error(),
                           "allocating " + formatBytes(static_cast<int64_t>(bytes)) + " of GPU memory for " + what);
    m_ptr = p;
    m_bytes = bytes;
    return Status::ok();
}

void DeviceBuffer::release() {
    if (m_ptr) GQA_CUDA_CHECK_CLEANUP(cudaFree(m_ptr));
    m_ptr = nullptr;
    m_bytes = 0;
}

Status PinnedBuffer::allocate(std::size_t bytes, const std::string& what) {
    release();
    if (bytes == 0) return Status::ok();
    void* p = nullptr;
    const Status s = checkCall(cudaMallocHost(&p, bytes), "cudaMallocHost(&p, bytes)", __FILE__, __LINE__);
    if (!s.isOk())
        return withContext(
            s.error(), "allocating " + formatBytes(static_cast<int64_t>(bytes)) + " of pinned host memory for " + what);
    m_ptr = p;
    m_bytes = bytes;
    return Status::ok();
}

void PinnedBuffer::release() {
    if (m_ptr) GQA_CUDA_CHECK_CLEANUP(cudaFreeHost(m_ptr));
    m_ptr = nullptr;
    m_bytes = 0;
}

Status EventSet::create(std::size_t count) {
    release();
    m_events.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        cudaEvent_t e = nullptr;
        GQA_CUDA_CHECK(cudaEventCreate(&e));
        m_events.push_back(e);
    }
    return Status::ok();
}

void EventSet::release() {
    for (cudaEvent_t e : m_events) GQA_CUDA_CHECK_CLEANUP(cudaEventDestroy(e));
    m_events.clear();
}

}  // namespace gqa::cuda
