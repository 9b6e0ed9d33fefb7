// The C ABI of libgqa_cuda.so, opened with dlopen by engine/src/backend_registry.cpp. These three functions
// are the only symbols the module exports (everything else is hidden), and nothing throws across them.
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cuda_backend.h"

#define GQA_CUDA_MODULE_ABI 1
#define GQA_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

void writeMessage(char* buf, unsigned long len, const std::string& text) {
    if (buf == nullptr || len == 0) return;
    const std::size_t n = text.size() < len - 1 ? text.size() : static_cast<std::size_t>(len - 1);
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
}

}  // namespace

// Returns 1 and fills device name when a usable CUDA device exists; 0 and a reason otherwise.
GQA_CUDA_EXPORT int gqa_cuda_probe(char* message, unsigned long message_len) {
    try {
        auto d = gqa::cuda::probeDevice(0);
        if (!d) {
            writeMessage(message, message_len, d.error().message);
            return 0;
        }
        writeMessage(message, message_len, d->name);
        return 1;
    } catch (const std::exception& e) {
        writeMessage(message, message_len, std::string("CUDA probe failed: ") + e.what());
    } catch (...) {
        writeMessage(message, message_len, "CUDA probe failed with an unknown exception");
    }
    return 0;
}

// Creates the backend (device 0). Returns nullptr and a reason on failure.
GQA_CUDA_EXPORT gqa::Backend* gqa_cuda_create_backend(char* message, unsigned long message_len) {
    try {
        auto b = gqa::cuda::CudaBackend::create(0);
        if (!b) {
            writeMessage(message, message_len, b.error().message);
            return nullptr;
        }
        writeMessage(message, message_len, b.value()->deviceInfo().name);
        return b.value().release();
    } catch (const std::bad_alloc&) {
        writeMessage(message, message_len, "out of host memory while creating the CUDA backend");
    } catch (const std::exception& e) {
        writeMessage(message, message_len, std::string("creating the CUDA backend failed: ") + e.what());
    } catch (...) {
        writeMessage(message, message_len, "creating the CUDA backend failed with an unknown exception");
    }
    return nullptr;
}

// ABI check: must return GQA_CUDA_MODULE_ABI.
GQA_CUDA_EXPORT int gqa_cuda_abi_version(void) {
    return GQA_CUDA_MODULE_ABI;
}
