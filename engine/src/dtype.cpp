#include "gqa/dtype.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

namespace gqa {

const char* dtypeName(DType t) {
    switch (t) {
        case DType::F32: return "fp32";
        case DType::F16: return "fp16";
        case DType::BF16: return "bf16";
        case DType::Q8_0: return "q8_0";
    }
    return "?";
}

std::optional<DType> parseDType(std::string_view s) {
    std::string l(s);
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    if (l == "fp32" || l == "f32" || l == "float32" || l == "float") return DType::F32;
    if (l == "fp16" || l == "f16" || l == "float16" || l == "half") return DType::F16;
    if (l == "bf16" || l == "bfloat16") return DType::BF16;
    if (l == "q8_0" || l == "q8") return DType::Q8_0;
    return std::nullopt;
}

// IEEE binary16, round to nearest even, with subnormals, infinities and NaN.
uint16_t floatToF16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
    if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow → inf (>= 65520)
    if (absx < 0x38800000u) {                                               // subnormal or zero in fp16
        // value = absx as float; fp16 subnormal step is 2^-24.
        const float a = std::bit_cast<float>(absx);
        const float scaled = a * 16777216.0f;  // 2^24
        // nearbyint uses the current rounding mode (default: to nearest even).
        const uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
        return static_cast<uint16_t>(sign | m);
    }
    uint32_t mant = absx & 0x7fffffu;
    uint32_t exp = (absx >> 23) - 127 + 15;
    uint32_t h = (exp << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carries into the exponent correctly
    return static_cast<uint16_t>(sign | h);
}

float f16ToFloat(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        const float v = std::ldexp(static_cast<float>(mant), -24);
        return sign ? -v : v;
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
    return std::bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

void storeAs(DType t, const float* src, void* dst, int64_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case DType::BF16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = floatToBf16(src[i]);
            return;
        }
        case DType::F16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = floatToF16(src[i]);
            return;
        }
        case DType::Q8_0: {
            // Per block of 32: d = max|x| / 127 (stored as f16), q = round(x / d), as GGUF's reference quantizer.
            auto* out = static_cast<uint8_t*>(dst);
            for (int64_t b = 0; b < n / kQ8BlockElems; ++b) {
                const float* x = src + b * kQ8BlockElems;
                float amax = 0.0f;
                for (int64_t i = 0; i < kQ8BlockElems; ++i) amax = std::max(amax, std::fabs(x[i]));
                const float d = amax / 127.0f;
                const uint16_t dh = floatToF16(d);
                const float id = d != 0.0f ? 1.0f / d : 0.0f;
                uint8_t* blk = out + b * kQ8BlockBytes;
                std::memcpy(blk, &dh, 2);
                for (int64_t i = 0; i < kQ8BlockElems; ++i) {
                    const long q = std::lround(x[i] * id);
                    blk[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp<long>(q, -127, 127)));
                }
            }
            return;
        }
    }
}

void loadAsFloat(DType t, const void* src, float* dst, int64_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case DType::BF16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16ToFloat(s[i]);
            return;
        }
        case DType::F16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = f16ToFloat(s[i]);
            return;
        }
        case DType::Q8_0: {
            const auto* in = static_cast<const uint8_t*>(src);
            for (int64_t b = 0; b < n / kQ8BlockElems; ++b) {
                const uint8_t* blk = in + b * kQ8BlockBytes;
                uint16_t dh;
                std::memcpy(&dh, blk, 2);
                const float d = f16ToFloat(dh);
                for (int64_t i = 0; i < kQ8BlockElems; ++i)
                    dst[b * kQ8BlockElems + i] = d * static_cast<float>(static_cast<int8_t>(blk[2 + i]));
            }
            return;
        }
    }
}

}  // namespace gqa
