// tokenizer.model bytes (a SentencePiece ModelProto) -> specFromSentencePieceBytes -> PipelineTokenizer,
// then a short encode / decode.
#include "fuzz_util.h"
#include "gqa/tokenizer.h"
#include "tokenizer/loaders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    auto spec = gqa::tok::specFromSentencePieceBytes(gqa::fuzz::asString(data, size), "fuzz/tokenizer.model");
    if (!spec) return 0;
    auto tok = gqa::tok::PipelineTokenizer::create(std::move(spec.value()));
    if (!tok) return 0;
    const auto ids = (*tok)->encode("Hello  world\n 12345 caf\xC3\xA9 \xE4\xB8\xAD \xFF\xFE", true);
    for (int32_t id : ids)
        if (id < 0 || id >= (*tok)->vocabSize()) __builtin_trap();
    gqa::fuzz::use((*tok)->decode(ids));
    return 0;
}
