#define GQA_KERNEL_NS generic
#define GQA_VW 4
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "cpu_kernels_impl.h"

namespace gqa::cpu {
const Kernels& kernelsGeneric() {
    return generic::table("generic");
}

bool amxUsable() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        const bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u;
        if (!tile || !bf16) return false;
        if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return false;  // OSXSAVE
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if (((lo >> 17) & 3u) != 3u) return false;  // XTILECFG and XTILEDATA enabled in XCR0
#if defined(SYS_arch_prctl)
        constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
        return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
        return false;
#endif
    }();
    return ok;
}

bool amxInt8Usable() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        return amxUsable() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((d >> 25) & 1u);
    }();
    return ok;
}

const Kernels& kernels() {
    static const Kernels& best = []() -> const Kernels& {
        // GQA_CPU_ISA=generic|avx2|avx512|amx-bf16 forces a kernel set (for testing the fallbacks).
        if (const char* isa = std::getenv("GQA_CPU_ISA"); isa && *isa) return kernelsFor(isa);
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq") && amxUsable())
            return kernelsAmxBf16();
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
    if (s == "amx-bf16" && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") && amxUsable())
        return kernelsAmxBf16();
    if (s == "avx512" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return kernelsAvx512();
    if (s == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernelsAvx2();
    return kernelsGeneric();
}
}  // namespace gqa::cpu
