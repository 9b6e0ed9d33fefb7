// safetensors (Hugging Face): an 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and [begin, end) data offsets, then the data. The reader validates all of it before any tensor
// is used; the writer produces files any safetensors reader accepts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gqa/mapped_file.h"
#include "gqa/status.h"

namespace gqa {

struct SafetensorsTensor {
    std::string name;
    std::string dtype;              // as in the file: "F32", "F16", "BF16", "I64", ...
    std::vector<int64_t> shape;     // row-major, outermost first
    const uint8_t* data = nullptr;  // into the mapping (or parsed buffer)
    int64_t bytes = 0;
    int64_t numel() const;
};

struct SafetensorsFile {
    std::string path;
    std::vector<SafetensorsTensor> tensors;       // in data-offset order
    std::map<std::string, std::string> metadata;  // "__metadata__", string values only
    std::shared_ptr<const MappedFile> mapping;    // keeps data alive (null after parseSafetensors)
    const SafetensorsTensor* find(const std::string& name) const;
};

// Corrupt errors name the file and the problem: file shorter than 8 bytes; header length beyond the file or
// above 100 MB; header not a JSON object; a tensor entry without dtype/shape/data_offsets; unknown dtype;
// negative or overflowing shape; offsets whose length disagrees with dtype x shape; offsets outside the data
// section; overlapping tensors (touching is fine).
Expected<SafetensorsFile> readSafetensors(const std::string& path);
Expected<SafetensorsFile> parseSafetensors(const uint8_t* bytes, std::size_t size, const std::string& name);
// Bytes per element of a safetensors dtype name ("BF16" -> 2), 0 if unknown.
int64_t safetensorsDtypeBytes(const std::string& dtype);

struct SafetensorsWriteTensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    int64_t bytes = 0;
};
// Writes atomically (temporary file + rename); header padded with spaces to a multiple of 8 bytes.
Status writeSafetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace gqa
