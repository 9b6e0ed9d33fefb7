// Backend discovery. The CUDA backend lives in libgqa_cuda.so, opened with dlopen at run time, so the
// app and the CLI start on machines with no GPU and no CUDA runtime libraries.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <mutex>
#include <string>
#include <vector>

#include "gqa/backend.h"

namespace gqa {

namespace {

constexpr int kCudaModuleAbi = 1;

struct CudaModule {
    void* handle = nullptr;
    std::string error;  // why it could not be used
    int (*probe)(char*, unsigned long) = nullptr;
    Backend* (*create)(char*, unsigned long) = nullptr;
};

std::string executableDir() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    std::string p(buf, static_cast<size_t>(n));
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? std::string{} : p.substr(0, slash);
}

CudaModule& cudaModule() {
    static CudaModule mod;
    static std::once_flag once;
    std::call_once(once, [] {
        std::vector<std::string> candidates;
        if (const char* env = std::getenv("GQA_CUDA_MODULE")) candidates.emplace_back(env);
        const std::string dir = executableDir();
        if (!dir.empty()) {
            candidates.push_back(dir + "/libgqa_cuda.so");
            candidates.push_back(dir + "/../lib/libgqa_cuda.so");
        }
        candidates.emplace_back("libgqa_cuda.so");
        std::string errors;
        for (const auto& path : candidates) {
            void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                const char* e = dlerror();
                // A module that exists but cannot load (missing libcudart/libcublas) is the interesting error.
                if (e && std::string(e).find("No such file") == std::string::npos) errors = e;
                continue;
            }
            auto abi = reinterpret_cast<int (*)()>(dlsym(h, "gqa_cuda_abi_version"));
            mod.probe = reinterpret_cast<int (*)(char*, unsigned long)>(dlsym(h, "gqa_cuda_probe"));
            mod.create = reinterpret_cast<Backend* (*)(char*, unsigned long)>(dlsym(h, "gqa_cuda_create_backend"));
            if (!abi || !mod.probe || !mod.create || abi() != kCudaModuleAbi) {
                errors = path + " is not a compatible GQA Lab CUDA module";
                dlclose(h);
                mod.probe = nullptr;
                mod.create = nullptr;
                continue;
            }
            mod.handle = h;
            return;
        }
#if defined(GQA_CUDA_MODULE_BUILT)
        mod.error = errors.empty() ? "the CUDA module (libgqa_cuda.so) was not found next to the executable"
                                   : "the CUDA module could not be loaded: " + errors;
#else
        mod.error = "this build has no CUDA backend (no CUDA toolkit was found at configure time)";
        if (!errors.empty()) mod.error += "; " + errors;
#endif
    });
    return mod;
}

}  // namespace

std::vector<BackendAvailability> probeBackends() {
    std::vector<BackendAvailability> out;
    {
        auto cpu = createCpuBackend();
        out.push_back({"cpu", true, cpu->deviceInfo().name, ""});
    }
    BackendAvailability cuda{"cuda", false, "", ""};
    auto& mod = cudaModule();
    if (!mod.handle) {
        cuda.reason = mod.error;
    } else {
        char msg[512] = {0};
        if (mod.probe(msg, sizeof msg) == 1) {
            cuda.available = true;
            cuda.device = msg;
        } else {
            cuda.reason = msg[0] ? msg : "no usable CUDA device";
        }
    }
    out.push_back(cuda);
    return out;
}

Expected<std::unique_ptr<Backend>> createBackend(const std::string& name) {
    if (name == "cpu") return createCpuBackend();
    if (name == "cuda" || name == "auto") {
        auto& mod = cudaModule();
        std::string reason = mod.error;
        if (mod.handle) {
            char msg[512] = {0};
            if (mod.probe(msg, sizeof msg) == 1) {
                Backend* b = mod.create(msg, sizeof msg);
                if (b) return std::unique_ptr<Backend>(b);
            }
            reason = msg[0] ? msg : "no usable CUDA device";
        }
        if (name == "auto") return createCpuBackend();
        return makeError(ErrorCode::Unavailable, "CUDA backend unavailable: " + reason);
    }
    return makeError(ErrorCode::InvalidArgument, "unknown backend '" + name + "' (cpu, cuda or auto)");
}

}  // namespace gqa
