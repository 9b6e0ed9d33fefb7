// Tokenizer encode on arbitrary bytes (valid and invalid UTF-8) with one real vocabulary from
// ../shared/testdata/tokenizers, named at compile time by GQA_FUZZ_VOCAB and loaded once. Checks what holds
// for any input: ids in range and BOS first when asked; decode must not fail on what encode produced.
#include <cstdio>
#include <memory>

#include "fuzz_util.h"
#include "gqa/gguf.h"
#include "gqa/tokenizer.h"

#ifndef GQA_FUZZ_VOCAB
#error "GQA_FUZZ_VOCAB names the vocabulary file in tokenizers/"
#endif

namespace {
std::shared_ptr<const gqa::Tokenizer> g_tok;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::string path = gqa::fuzz::testdataDir() + "/tokenizers/" + GQA_FUZZ_VOCAB;
    auto f = gqa::readGguf(path);
    if (!f) {
        std::fprintf(stderr, "fuzz_encode: %s (set GQA_TESTDATA_DIR)\n", f.error().message.c_str());
        std::exit(1);
    }
    auto t = gqa::tokenizerFromGguf(*f);
    if (!t) {
        std::fprintf(stderr, "fuzz_encode: %s\n", t.error().message.c_str());
        std::exit(1);
    }
    g_tok = *t;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const bool add_bos = size > 0 && (data[0] & 1);
    const auto ids = g_tok->encode(text, add_bos);
    for (int32_t id : ids)
        if (id < 0 || id >= g_tok->vocabSize()) __builtin_trap();
    if (add_bos && g_tok->bos() >= 0 && (ids.empty() || ids[0] != g_tok->bos())) __builtin_trap();
    gqa::fuzz::use(g_tok->decode(ids));
    return 0;
}
