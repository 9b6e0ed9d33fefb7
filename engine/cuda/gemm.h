// Linear layers through cuBLAS with fp32 accumulation (CUBLAS_COMPUTE_32F).
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "gqa/dtype.h"
#include "gqa/status.h"

namespace gqa::cuda {

// y: (M, N) fp32 = x: (M, K) · w^T + beta · y, for a linear layer's weight w: (N, K) = (out_features,
// in_features) row-major as Hugging Face stores it. x is row-major with leading dimension ldx >= K (so rows
// can be picked with a stride), and x and w share `dtype` (fp32, fp16 or bf16). fp32 inputs run as true
// fp32 (no TF32), 16-bit inputs on tensor cores; accumulation is fp32 in both. beta = 1 adds into y (the
// residual connection), beta = 0 overwrites it.
Status linearRowMajor(cublasHandle_t handle, DType dtype, const void* x, int64_t ldx, const void* w, float* y,
                      int64_t M, int64_t N, int64_t K, float beta);

}  // namespace gqa::cuda
