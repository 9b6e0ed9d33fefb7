// The Hugging Face directory's two tokenizer files, each into a TokenizerSpec (load_hf.cpp adds the
// tokenizer_config.json / config.json settings and builds the tokenizer).
#pragma once

#include <string>

#include "gqa/status.h"
#include "tokenizer/pipeline.h"

namespace gqa::tok {

// tokenizer.json (Hugging Face tokenizers): model BPE, normalizer, pre_tokenizer, added_tokens, decoder,
// post_processor (for BOS).
Expected<TokenizerSpec> specFromTokenizerJson(const std::string& path);
// The same on the file's contents (tests, fuzzing); `what` names it in errors.
Expected<TokenizerSpec> specFromTokenizerJsonText(const std::string& text, const std::string& what);
// tokenizer.model (a SentencePiece BPE ModelProto).
Expected<TokenizerSpec> specFromSentencePiece(const std::string& path);
// The same on the serialized ModelProto (tests, fuzzing); `what` names it in errors.
Expected<TokenizerSpec> specFromSentencePieceBytes(const std::string& bytes, const std::string& what);
// The whole file, or IoError naming it.
Expected<std::string> readTextFile(const std::string& path);

}  // namespace gqa::tok
