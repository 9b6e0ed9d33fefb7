// A read-only memory mapping of a whole file: checkpoints are mapped once and their tensors read in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gqa/status.h"

namespace gqa {

class MappedFile {
public:
    // Maps `path` read-only (PROT_READ, MAP_PRIVATE). An empty file maps to size() == 0, data() == nullptr.
    // Errors (IoError) name the file: missing, a directory, unreadable.
    static Expected<std::shared_ptr<const MappedFile>> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return m_data; }
    std::size_t size() const { return m_size; }
    const std::string& path() const { return m_path; }

private:
    MappedFile() = default;
    const uint8_t* m_data = nullptr;
    std::size_t m_size = 0;
    std::string m_path;
};

// Bytes of the file at `path` (0 when it cannot be stat'ed): for fit predictions before mapping.
int64_t fileSizeBytes(const std::string& path);

}  // namespace gqa
