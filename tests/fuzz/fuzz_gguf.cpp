// GGUF bytes -> parseGguf, then configFromGguf and tokenizerFromGguf on what parses (and a short encode /
// decode with a tokenizer that loads).
#include "fuzz_util.h"
#include "gqa/checkpoint.h"
#include "gqa/gguf.h"
#include "gqa/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    auto f = gqa::parseGguf(data, size, "fuzz.gguf");
    if (!f) return 0;
    for (const gqa::GgufTensorInfo& t : f->tensors) {
        if (t.bytes < 0 || (t.bytes > 0 && (t.data < data || t.data + t.bytes > data + size))) __builtin_trap();
        volatile uint8_t sink = 0;
        if (t.bytes > 0) sink = t.data[0] ^ t.data[t.bytes - 1];
        (void)sink;
    }
    auto cfg = gqa::configFromGguf(*f);
    gqa::fuzz::use(cfg);
    auto tok = gqa::tokenizerFromGguf(*f);
    if (tok) {
        const auto ids = (*tok)->encode("Hello world \xE2\x96\x81 12345 \xF0\x9F\x98\x80 \xFF", true);
        for (int32_t id : ids)
            if (id < 0 || id >= (*tok)->vocabSize()) __builtin_trap();
        gqa::fuzz::use((*tok)->decode(ids));
        for (int32_t id = 0; id < std::min<int64_t>((*tok)->vocabSize(), 64); ++id)
            gqa::fuzz::use((*tok)->displayPiece(id));
    }
    return 0;
}
