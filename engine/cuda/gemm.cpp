#include "gemm.h"

#include <limits>
#include <string>

#include "cuda_check.h"

namespace gqa::cuda {

namespace {

cudaDataType_t cudaType(DType t) {
    switch (t) {
        case DType::F16: return CUDA_R_16F;
        case DType::BF16: return CUDA_R_16BF;
        case DType::F32: break;
    }
    return CUDA_R_32F;
}

}  // namespace

Status gemmRowMajor(cublasHandle_t handle, DType dtype, const void* x, const void* w, float* y, int64_t M, int64_t N,
                    int64_t K, float beta) {
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    if (M < 1 || N < 1 || K < 1 || M > kMax || N > kMax || K > kMax)
        return makeError(ErrorCode::InvalidArgument, "GEMM dimensions out of range: M=" + std::to_string(M) +
                                                         " N=" + std::to_string(N) + " K=" + std::to_string(K));
    // cuBLAS is column-major: the row-major (M x N) Y is the column-major (N x M) Y^T = W^T X^T, and the
    // row-major W (K x N) / X (M x K) are the column-major W^T (N x K, ld N) / X^T (K x M, ld K).
    const float alpha = 1.0f;
    const cudaDataType_t t = cudaType(dtype);
    GQA_CUDA_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
                                static_cast<int>(K), &alpha, w, t, static_cast<int>(N), x, t, static_cast<int>(K), &beta,
                                y, CUDA_R_32F, static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return Status::ok();
}

}  // namespace gqa::cuda
