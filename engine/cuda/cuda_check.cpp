#include "cuda_check.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace gqa::cuda {

namespace {

const char* baseName(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

std::string where(const char* expr, const char* file, int line) {
    return std::string(" [") + expr + " at " + baseName(file) + ":" + std::to_string(line) + "]";
}

}  // namespace

Status checkCall(cudaError_t result, const char* expr, const char* file, int line) {
    if (result == cudaSuccess) return Status::ok();
    // Clears the runtime's "last error" for non-sticky failures (a refused cudaMalloc, a bad launch
    // configuration), so the next cudaGetLastError() after an unrelated launch does not report it again.
    (void)cudaGetLastError();
    ErrorCode code = ErrorCode::Internal;
    if (result == cudaErrorMemoryAllocation) code = ErrorCode::OutOfMemory;
    if (result == cudaErrorInsufficientDriver || result == cudaErrorNoDevice || result == cudaErrorStubLibrary)
        code = ErrorCode::Unavailable;
    return makeError(code, std::string("CUDA error: ") + cudaGetErrorString(result) + " (" + cudaGetErrorName(result) +
                               ")" + where(expr, file, line));
}

Status checkCall(cublasStatus_t result, const char* expr, const char* file, int line) {
    if (result == CUBLAS_STATUS_SUCCESS) return Status::ok();
    const ErrorCode code = result == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::OutOfMemory : ErrorCode::Internal;
    return makeError(code, std::string("cuBLAS error: ") + cublasGetStatusString(result) + " (" +
                               cublasGetStatusName(result) + ")" + where(expr, file, line));
}

void reportUnreturnable(const Status& s) {
    // At process exit the runtime may already be gone; releasing into it is then harmless and not worth a line.
    if (!s.isOk() && s.message().find("cudaErrorCudartUnloading") == std::string::npos)
        std::fprintf(stderr, "gqa_cuda: ignored during cleanup: %s\n", s.message().c_str());
}

Error withContext(Error e, const std::string& context) {
    e.message = context + ": " + e.message;
    return e;
}

}  // namespace gqa::cuda
