#define GQA_KERNEL_NS generic
#define GQA_VW 4
#include <cstdlib>

#include "cpu_kernels_impl.h"

namespace gqa::cpu {
const Kernels& kernelsGeneric() {
    return generic::table("generic");
}

const Kernels& kernels() {
    static const Kernels& best = []() -> const Kernels& {
        // GQA_CPU_ISA=generic|avx2|avx512|avx512-bf16 forces a kernel set (for testing the fallbacks).
        if (const char* isa = std::getenv("GQA_CPU_ISA"); isa && *isa) return kernelsFor(isa);
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq"))
            return kernelsAvx512Bf16();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
            return kernelsAvx512();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernelsAvx2();
        return kernelsGeneric();
    }();
    return best;
}

const Kernels& kernelsFor(const char* isa) {
    const std::string s(isa);
    __builtin_cpu_init();
    if (s == "avx512-bf16" && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw"))
        return kernelsAvx512Bf16();
    if (s == "avx512" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return kernelsAvx512();
    if (s == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernelsAvx2();
    return kernelsGeneric();
}
}  // namespace gqa::cpu
