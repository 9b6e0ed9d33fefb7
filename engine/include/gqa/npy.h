// NumPy .npy files (format 1.0/2.0/3.0), float32 and float16, C order only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gqa/dtype.h"
#include "gqa/status.h"

namespace gqa {

struct NpyArray {
    std::vector<int64_t> shape;
    DType dtype = DType::F32;  // F32 or F16 (as stored in the file)
    std::vector<float> data;   // always converted to fp32, C order
    int64_t numel() const;
};

// Refuses, with a message naming the problem: bad magic, unsupported version, truncated header or data,
// non-C order, unsupported dtype or byte order, malformed shape.
Expected<NpyArray> readNpy(const std::string& path);
Expected<NpyArray> parseNpy(const std::vector<uint8_t>& bytes, const std::string& what = "array");
// Writes float32 (or float16), atomically (temp file + rename).
Status writeNpy(const std::string& path, const std::vector<int64_t>& shape, const float* data,
                DType dtype = DType::F32);

}  // namespace gqa
