#define GQA_KERNEL_NS avx2
#define GQA_VW 8
#define GQA_HAVE_F16C 1
#include "cpu_kernels_impl.h"

namespace gqa::cpu {
const Kernels& kernelsAvx2() {
    return avx2::table("avx2");
}
}  // namespace gqa::cpu
