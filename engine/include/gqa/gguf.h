// GGUF (llama.cpp's file format, versions 2 and 3): header, metadata key/values and tensor infos, every length,
// count and offset checked against the file before anything is read. Tensor data stay in the mapping.
// Specification: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gqa/mapped_file.h"
#include "gqa/status.h"

namespace gqa {

enum class GgufType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};

// One metadata value. Scalars: integers and bools in `i` (bool as 0/1), floats in `f`, strings in `s`.
// Arrays: `elem` is the element type; integer/bool elements in `ints`, float elements in `floats`,
// string elements in `strings` (arrays of arrays are refused as Corrupt).
struct GgufValue {
    GgufType type = GgufType::UInt32;
    GgufType elem = GgufType::UInt32;
    int64_t i = 0;
    double f = 0.0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;
    bool isInteger() const;  // any integer type or bool
    bool isFloat() const;    // Float32 / Float64
};

// ggml tensor types the reader knows the block size of (others are refused, naming the numeric id).
// Ids as in ggml.h: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q8_1 9, Q2_K 10, Q3_K 11,
// Q4_K 12, Q5_K 13, Q6_K 14, Q8_K 15, I8 24, I16 25, I32 26, I64 27, F64 28, BF16 30.
const char* ggmlTypeName(uint32_t ggml_type);  // "F32", "Q4_K", ... or "unknown"
// Elements per block and bytes per block of a known type (F32: 1 and 4; Q8_0: 32 and 34); false if unknown.
bool ggmlTypeBlock(uint32_t ggml_type, int64_t& block_elems, int64_t& block_bytes);

struct GgufTensorInfo {
    std::string name;
    uint32_t ggml_type = 0;
    std::vector<int64_t> ne;        // GGUF order: ne[0] is the fastest-varying (the row length)
    uint64_t offset = 0;            // relative to the start of the data section, as in the file
    const uint8_t* data = nullptr;  // into the mapping (or the parsed buffer)
    int64_t bytes = 0;
    int64_t numel() const;
};

struct GgufFile {
    std::string path;  // or the name given to parseGguf
    uint32_t version = 0;
    uint64_t alignment = 32;  // general.alignment or 32
    std::map<std::string, GgufValue> metadata;
    std::vector<GgufTensorInfo> tensors;        // in file order
    std::shared_ptr<const MappedFile> mapping;  // keeps tensor data alive (null after parseGguf)

    const GgufValue* find(const std::string& key) const;
    std::optional<int64_t> getInt(const std::string& key) const;   // integer or bool scalar
    std::optional<double> getFloat(const std::string& key) const;  // float or integer scalar
    std::optional<std::string> getString(const std::string& key) const;
    const GgufTensorInfo* findTensor(const std::string& name) const;
};

// Maps and validates: magic "GGUF", version 2 or 3, counts that the file can hold, every string and array
// length within the file, no duplicate keys or tensor names, known tensor types, tensor data inside the file
// and not overlapping. Corrupt errors name the file and the problem ("string length 4294967295 at byte 1234
// runs past the end of the file (5000 bytes)").
Expected<GgufFile> readGguf(const std::string& path);
// The same on bytes in memory (tests, fuzzing); tensor `data` pointers point into `bytes`.
Expected<GgufFile> parseGguf(const uint8_t* bytes, std::size_t size, const std::string& name);

}  // namespace gqa
