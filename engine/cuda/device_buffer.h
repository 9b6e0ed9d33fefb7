// Owning handles for device memory, pinned host memory and CUDA events. Allocation failures come back as
// Status values naming what was being allocated and how much; release happens in the destructor.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <vector>

#include "gqa/status.h"

namespace gqa::cuda {

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& o) noexcept : m_ptr(o.m_ptr), m_bytes(o.m_bytes) { o.m_ptr = nullptr, o.m_bytes = 0; }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    ~DeviceBuffer() { release(); }

    // Frees what was held, then cudaMalloc(bytes). `what` names the buffer in the error message.
    Status allocate(std::size_t bytes, const std::string& what);
    void release();

    void* data() const { return m_ptr; }
    template <class T>
    T* as() const {
        return static_cast<T*>(m_ptr);
    }
    std::size_t bytes() const { return m_bytes; }

private:
    void* m_ptr = nullptr;
    std::size_t m_bytes = 0;
};

// Page-locked host memory, so device-to-host copies can be queued without synchronizing the stream.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    ~PinnedBuffer() { release(); }

    Status allocate(std::size_t bytes, const std::string& what);
    void release();
    template <class T>
    T* as() const {
        return static_cast<T*>(m_ptr);
    }
    std::size_t bytes() const { return m_bytes; }

private:
    void* m_ptr = nullptr;
    std::size_t m_bytes = 0;
};

// A fixed set of timing events (cudaEventDefault, so cudaEventElapsedTime works between them).
class EventSet {
public:
    EventSet() = default;
    EventSet(const EventSet&) = delete;
    EventSet& operator=(const EventSet&) = delete;
    ~EventSet() { release(); }

    Status create(std::size_t count);
    void release();
    cudaEvent_t operator[](std::size_t i) const { return m_events[i]; }
    std::size_t size() const { return m_events.size(); }

private:
    std::vector<cudaEvent_t> m_events;
};

}  // namespace gqa::cuda
