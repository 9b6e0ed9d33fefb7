// safetensors bytes -> parseSafetensors; every accepted tensor lies inside the input.
#include "fuzz_util.h"
#include "gqa/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    auto f = gqa::parseSafetensors(data, size, "fuzz.safetensors");
    if (!f) return 0;
    for (const gqa::SafetensorsTensor& t : f->tensors) {
        if (t.bytes < 0 || t.data < data || t.data + t.bytes > data + size) __builtin_trap();
        volatile uint8_t sink = 0;
        if (t.bytes > 0) sink = t.data[0] ^ t.data[t.bytes - 1];  // ASan checks both ends
        (void)sink;
    }
    return 0;
}
