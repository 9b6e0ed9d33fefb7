// Storage data types. Math is always fp32; 16-bit and 8-bit types only change what is stored.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gqa {

// Q8_0 (GGUF): blocks of 32 values along a row, each an fp16 scale d and 32 int8 q; value = d * q.
// It is a weight format only: the KV cache and activations are never Q8_0.
enum class DType { F32, F16, BF16, Q8_0 };
inline constexpr int64_t kQ8BlockElems = 32;
inline constexpr int64_t kQ8BlockBytes = 34;

// Bytes of one element of an element-wise type (F32 4, F16/BF16 2); Q8_0 has no per-element size (use
// storageBytes).
constexpr std::size_t bytesPerElement(DType t) {
    return t == DType::F32 ? 4 : 2;
}
// Bytes of n values stored as t (Q8_0: n must be a multiple of 32; 34 bytes per block).
constexpr int64_t storageBytes(DType t, int64_t n) {
    return t == DType::Q8_0 ? n / kQ8BlockElems * kQ8BlockBytes : n * static_cast<int64_t>(bytesPerElement(t));
}
// Average bytes per value (Q8_0: 34/32), for analytic models.
constexpr double bytesPerValue(DType t) {
    return t == DType::Q8_0 ? 34.0 / 32.0 : static_cast<double>(bytesPerElement(t));
}
const char* dtypeName(DType t);  // "fp32", "fp16", "bf16", "q8_0"
// accepts fp32/f32/float32, fp16/f16/float16/half, bf16/bfloat16, q8_0/q8
std::optional<DType> parseDType(std::string_view);
// Reads n values of row storage `src` in dtype t as fp32 (Q8_0: n a multiple of 32).
void loadAsFloat(DType t, const void* src, float* dst, int64_t n);

// Round-to-nearest-even conversions (portable, scalar; hot loops use the kernels' own paths).
inline uint16_t floatToBf16(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}
inline float bf16ToFloat(uint16_t h) {
    return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}
uint16_t floatToF16(float f);
float f16ToFloat(uint16_t h);

// Stores n floats as dtype t at dst (fp32 copied; fp16/bf16 rounded to nearest even): the KV cache's layout.
void storeAs(DType t, const float* src, void* dst, int64_t n);

// The value a float takes after a round trip through the storage type.
inline float roundTo(DType t, float f) {
    switch (t) {
        case DType::F32: return f;
        case DType::BF16: return bf16ToFloat(floatToBf16(f));
        case DType::F16: return f16ToFloat(floatToF16(f));
        case DType::Q8_0: return f;
    }
    return f;
}

}  // namespace gqa
