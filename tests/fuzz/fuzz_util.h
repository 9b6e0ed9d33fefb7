// Shared by the libFuzzer targets and the plain replay driver (replay_main.cpp): the data location and a few
// helpers. Each target defines LLVMFuzzerTestOneInput (and, where it loads a vocabulary, LLVMFuzzerInitialize).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef GQA_TESTDATA_DIR
#define GQA_TESTDATA_DIR ""
#endif

namespace gqa::fuzz {

// ../shared/testdata: the environment variable GQA_TESTDATA_DIR wins over the compiled-in default.
inline std::string testdataDir() {
    const char* env = std::getenv("GQA_TESTDATA_DIR");
    return env && *env ? std::string(env) : std::string(GQA_TESTDATA_DIR);
}

inline std::string asString(const uint8_t* data, std::size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
}

// Keeps the optimizer from dropping a result the target only computes to exercise it.
template <class T>
inline void use(const T& v) {
    asm volatile("" : : "r"(&v) : "memory");
}

}  // namespace gqa::fuzz
