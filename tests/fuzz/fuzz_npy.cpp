// .npy bytes -> parseNpy (header dict, shape, dtype, data size).
#include "fuzz_util.h"
#include "gqa/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::vector<uint8_t> bytes(data, data + size);
    auto a = gqa::parseNpy(bytes, "fuzz.npy");
    if (a) {
        // A parsed array holds exactly numel() values.
        if (static_cast<int64_t>(a->data.size()) != a->numel()) __builtin_trap();
    }
    return 0;
}
