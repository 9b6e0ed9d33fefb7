#define GQA_KERNEL_NS avx512bf16
#define GQA_VW 16
#define GQA_HAVE_F16C 1
#define GQA_HAVE_BF16DP 1
#include "cpu_kernels_impl.h"

namespace gqa::cpu {
const Kernels& kernelsAvx512Bf16() {
    return avx512bf16::table("avx512-bf16");
}
}  // namespace gqa::cpu
