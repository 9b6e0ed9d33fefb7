#define GQA_KERNEL_NS avx512
#define GQA_VW 16
#define GQA_HAVE_F16C 1
#include "cpu_kernels_impl.h"

namespace gqa::cpu {
const Kernels& kernelsAvx512() {
    return avx512::table("avx512");
}
}  // namespace gqa::cpu
