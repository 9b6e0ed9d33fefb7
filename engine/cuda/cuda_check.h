// One macro checks every CUDA runtime and cuBLAS call: a failure becomes a gqa::Error naming the call,
// the file and the line, and is returned to the caller. Nothing here aborts.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "gqa/status.h"

namespace gqa::cuda {

// Ok for cudaSuccess / CUBLAS_STATUS_SUCCESS; otherwise an Error such as
// "cudaMalloc(&p, bytes) failed: out of memory (cudaErrorMemoryAllocation) at device_buffer.cpp:21".
// Out-of-memory results map to ErrorCode::OutOfMemory, missing drivers/devices to Unavailable, the rest
// to Internal. Non-sticky CUDA errors are cleared so a later cudaGetLastError() does not report them again.
Status checkCall(cudaError_t result, const char* expr, const char* file, int line);
Status checkCall(cublasStatus_t result, const char* expr, const char* file, int line);

// Cleanup paths (destructors) have nowhere to return an error: print it to stderr instead of losing it.
void reportUnreturnable(const Status& s);

// Prefixes an error's message with what was being done ("allocating the KV cache: ...").
Error withContext(Error e, const std::string& context);

}  // namespace gqa::cuda

// Return the failure of a CUDA/cuBLAS call from the enclosing function (which returns Status or Expected<T>).
#define GQA_CUDA_CHECK(expr)                                                                        \
    do {                                                                                            \
        ::gqa::Status gqa_cuda_status_ = ::gqa::cuda::checkCall((expr), #expr, __FILE__, __LINE__); \
        if (!gqa_cuda_status_.isOk()) return gqa_cuda_status_.error();                              \
    } while (0)

// Same check where nothing can be returned (destructors): the failure is printed, not dropped.
#define GQA_CUDA_CHECK_CLEANUP(expr) \
    ::gqa::cuda::reportUnreturnable(::gqa::cuda::checkCall((expr), #expr, __FILE__, __LINE__))
