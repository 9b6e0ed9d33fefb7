#include "gemm.h"

#include <limits>
#include <string>

#include "cuda_check.h"

namespace gqa::cuda {

Status linearRowMajor(cublasHandle_t handle, DType dtype, const void* x, int64_t ldx, const void* w, float* y,
                      int64_t M, int64_t N, int64_t K, float beta) {
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    if (M < 1 || N < 1 || K < 1 || M > kMax || N > kMax || K > kMax || ldx < K || ldx > kMax)
        return makeError(ErrorCode::InvalidArgument, "GEMM dimensions out of range: M=" + std::to_string(M) +
                                                         " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                                                         " ldx=" + std::to_string(ldx));
    cudaDataType_t t = CUDA_R_32F;
    switch (dtype) {
        case DType::F32: t = CUDA_R_32F; break;
        case DType::F16: t = CUDA_R_16F; break;
        case DType::BF16: t = CUDA_R_16BF; break;
        case DType::Q8_0:
            return makeError(ErrorCode::InvalidArgument, "the CUDA GEMMs read fp32, fp16 and bf16 weights, not q8_0");
    }
    // cuBLAS is column-major: the row-major (M x N) Y is the column-major (N x M) Y^T = W X^T. The row-major
    // W (N x K) is the column-major (K x N, ld K) W^T, used transposed (OP_T); the row-major X (M x K, ld ldx)
    // is the column-major X^T (K x M, ld ldx).
    const float alpha = 1.0f;
    GQA_CUDA_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
                                static_cast<int>(K), &alpha, w, t, static_cast<int>(K), x, t, static_cast<int>(ldx),
                                &beta, y, CUDA_R_32F, static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return Status::ok();
}

}  // namespace gqa::cuda
