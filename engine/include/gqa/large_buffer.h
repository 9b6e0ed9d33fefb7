#pragma once
// Zeroed byte buffers for the engine's large arrays (weights, KV caches, benchmark copies, the bandwidth probe),
// backed by transparent huge pages where the kernel grants them.
//
// Why: on virtual machines a 4 KiB page costs a two-level page walk on every TLB miss, and streaming hundreds of
// MiB through 4 KiB pages measured 27-29 GB/s where the same loop over 2 MiB pages read 31-33 GB/s (2 threads,
// KVM guest, THP in "madvise" mode): a bandwidth probe on small pages reports a ceiling the kernels can beat.
// Buffers of at least kLargeBufferMin bytes are mapped 2 MiB-aligned and marked MADV_HUGEPAGE; smaller ones come
// from the heap. Either way the bytes start zeroed and only pages that are touched take memory.
#include <cstddef>
#include <cstdint>

namespace gqa {

constexpr size_t kLargeBufferMin = size_t{2} << 20;

class LargeBuffer {
public:
    LargeBuffer() = default;
    explicit LargeBuffer(size_t bytes);  // zeroed; throws std::bad_alloc when the memory cannot be had
    ~LargeBuffer();
    LargeBuffer(LargeBuffer&& o) noexcept;
    LargeBuffer& operator=(LargeBuffer&& o) noexcept;
    LargeBuffer(const LargeBuffer&) = delete;
    LargeBuffer& operator=(const LargeBuffer&) = delete;

    uint8_t* data() { return m_data; }
    const uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }
    // Whether the buffer is a huge-page mapping (false: heap, or empty).
    bool mapped() const { return m_map_bytes > 0; }

private:
    void release() noexcept;
    uint8_t* m_data = nullptr;
    size_t m_size = 0;
    size_t m_map_bytes = 0;  // > 0: m_data is an mmap of this many bytes
};

}  // namespace gqa
