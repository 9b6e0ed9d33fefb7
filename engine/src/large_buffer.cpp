// Large zeroed buffers: an anonymous mapping trimmed to 2 MiB alignment and marked MADV_HUGEPAGE, or the heap.
#include "gqa/large_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <new>
#include <utility>

namespace gqa {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
size_t roundUp(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}
}  // namespace

LargeBuffer::LargeBuffer(size_t bytes) : m_size(bytes) {
    if (bytes == 0) return;
    if (bytes < kLargeBufferMin) {
        m_data = new uint8_t[bytes]();
        return;
    }
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096);
    const size_t want = roundUp(bytes, page);
    if (want < bytes || want + kHugePage < want) throw std::bad_alloc();
    // Map one huge page more than needed, then unmap the misaligned head and the tail: the buffer starts on a
    // 2 MiB boundary, so every whole 2 MiB of it can be one huge page.
    void* raw = ::mmap(nullptr, want + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto* base = static_cast<uint8_t*>(raw);
    const auto addr = reinterpret_cast<uintptr_t>(base);
    auto* aligned = reinterpret_cast<uint8_t*>(roundUp(addr, kHugePage));
    const size_t head = static_cast<size_t>(aligned - base), tail = kHugePage - head;
    if (head > 0) ::munmap(base, head);
    if (tail > 0) ::munmap(aligned + want, tail);
    // Advice only: a kernel without THP (or with it set to "never") leaves 4 KiB pages, which work the same.
    (void)::madvise(aligned, want, MADV_HUGEPAGE);
    m_data = aligned;
    m_map_bytes = want;
}

LargeBuffer::~LargeBuffer() {
    release();
}

LargeBuffer::LargeBuffer(LargeBuffer&& o) noexcept
    : m_data(std::exchange(o.m_data, nullptr)),
      m_size(std::exchange(o.m_size, 0)),
      m_map_bytes(std::exchange(o.m_map_bytes, 0)) {}

LargeBuffer& LargeBuffer::operator=(LargeBuffer&& o) noexcept {
    if (this != &o) {
        release();
        m_data = std::exchange(o.m_data, nullptr);
        m_size = std::exchange(o.m_size, 0);
        m_map_bytes = std::exchange(o.m_map_bytes, 0);
    }
    return *this;
}

void LargeBuffer::release() noexcept {
    if (m_map_bytes > 0)
        ::munmap(m_data, m_map_bytes);
    else
        delete[] m_data;
    m_data = nullptr;
    m_size = 0;
    m_map_bytes = 0;
}

}  // namespace gqa
