#define GQA_KERNEL_NS amxbf16
#define GQA_VW 16
#define GQA_HAVE_F16C 1
#define GQA_HAVE_AMX 1
#include "cpu_kernels_impl.h"

namespace gqa::cpu {
const Kernels& kernelsAmxBf16() {
    return amxbf16::table("amx-bf16");
}
}  // namespace gqa::cpu
