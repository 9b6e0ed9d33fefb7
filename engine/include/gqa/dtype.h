// Storage data types. Math is always fp32; 16-bit types only change what is stored.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gqa {

enum class DType { F32, F16, BF16 };

constexpr std::size_t bytesPerElement(DType t) { return t == DType::F32 ? 4 : 2; }
const char* dtypeName(DType t);                    // "fp32", "fp16", "bf16"
std::optional<DType> parseDType(std::string_view);  // accepts fp32/f32/float32, fp16/f16/float16/half, bf16/bfloat16

// Round-to-nearest-even conversions (portable, scalar; hot loops use the kernels' own paths).
inline uint16_t floatToBf16(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}
inline float bf16ToFloat(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }
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
    }
    return f;
}

}  // namespace gqa
