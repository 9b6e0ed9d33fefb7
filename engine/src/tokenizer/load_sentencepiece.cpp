// tokenizer.model -> TokenizerSpec. libsentencepiece loads and validates the ModelProto and gives the pieces
// and scores; the few fields its API does not expose (piece types USER_DEFINED, model type, byte_fallback,
// the normalizer flags) are read from the serialized proto by field number (sentencepiece_model.proto), since
// Debian ships no sentencepiece_model.pb.h. Encoding then runs our own SentencePiece BPE (spm.cpp), the same
// code as for GGUF vocabularies.
#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>

#include "tokenizer/loaders.h"

namespace gqa::tok {

namespace {

// Protocol-buffers wire format: just enough to walk fields and descend into sub-messages.
struct Wire {
    const uint8_t* p;
    const uint8_t* end;

    bool varint(uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64 && p < end; shift += 7) {
            const uint8_t b = *p++;
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    }
    // Next field: number, wire type, and for length-delimited ones the payload; false at the end or on error.
    bool next(uint32_t& field, uint32_t& wtype, uint64_t& value, Wire& payload, bool& ok) {
        ok = true;
        if (p >= end) return false;
        uint64_t key = 0;
        if (!varint(key)) return ok = false;
        field = static_cast<uint32_t>(key >> 3);
        wtype = static_cast<uint32_t>(key & 7);
        switch (wtype) {
            case 0: return (ok = varint(value));
            case 1:
                if (end - p < 8) return ok = false;
                p += 8;
                return true;
            case 5:
                if (end - p < 4) return ok = false;
                p += 4;
                return true;
            case 2: {
                uint64_t len = 0;
                if (!varint(len) || len > static_cast<uint64_t>(end - p)) return ok = false;
                payload = {p, p + len};
                p += len;
                return true;
            }
            default: return ok = false;
        }
    }
};

struct ProtoFacts {
    std::vector<int32_t> piece_types;      // ModelProto.pieces[i].type (1 NORMAL default)
    int model_type = 1;                    // TrainerSpec.model_type: 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR
    bool byte_fallback = false;            // TrainerSpec.byte_fallback (35)
    std::string normalizer_name;           // NormalizerSpec.name (1)
    bool add_dummy_prefix = true;          // NormalizerSpec.add_dummy_prefix (3)
    bool remove_extra_whitespaces = true;  // (4)
    bool escape_whitespaces = true;        // (5)
};

bool readProto(const std::string& bytes, ProtoFacts& facts) {
    Wire top{reinterpret_cast<const uint8_t*>(bytes.data()),
             reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size()};
    uint32_t field = 0, wt = 0;
    uint64_t v = 0;
    Wire sub{nullptr, nullptr};
    bool ok = true;
    while (top.next(field, wt, v, sub, ok)) {
        if (wt != 2) continue;
        uint32_t f2 = 0, wt2 = 0;
        uint64_t v2 = 0;
        Wire sub2{nullptr, nullptr};
        bool ok2 = true;
        if (field == 1) {  // SentencePiece
            int32_t type = 1;
            while (sub.next(f2, wt2, v2, sub2, ok2))
                if (f2 == 3 && wt2 == 0) type = static_cast<int32_t>(v2);
            facts.piece_types.push_back(type);
        } else if (field == 2) {  // TrainerSpec
            while (sub.next(f2, wt2, v2, sub2, ok2)) {
                if (f2 == 3 && wt2 == 0) facts.model_type = static_cast<int>(v2);
                if (f2 == 35 && wt2 == 0) facts.byte_fallback = v2 != 0;
            }
        } else if (field == 3) {  // NormalizerSpec
            while (sub.next(f2, wt2, v2, sub2, ok2)) {
                if (f2 == 1 && wt2 == 2)
                    facts.normalizer_name.assign(reinterpret_cast<const char*>(sub2.p), sub2.end - sub2.p);
                if (f2 == 3 && wt2 == 0) facts.add_dummy_prefix = v2 != 0;
                if (f2 == 4 && wt2 == 0) facts.remove_extra_whitespaces = v2 != 0;
                if (f2 == 5 && wt2 == 0) facts.escape_whitespaces = v2 != 0;
            }
        }
        if (!ok2) return false;
    }
    return ok;
}

}  // namespace

namespace {

// Shared by the file and the in-memory entry points: `load` fills `sp`.
template <class Load>
Expected<TokenizerSpec> specFromProcessor(const std::string& path, Load load) {
    TokenizerSpec spec;
    spec.source = path;
    ProtoFacts facts;
    try {
        sentencepiece::SentencePieceProcessor sp;
        const auto st = load(sp);
        if (!st.ok()) return makeError(ErrorCode::Corrupt, path + ": SentencePiece cannot load it: " + st.ToString());
        if (!readProto(sp.serialized_model_proto(), facts) ||
            facts.piece_types.size() != static_cast<std::size_t>(sp.GetPieceSize()))
            return makeError(ErrorCode::Corrupt, path + ": the ModelProto's pieces cannot be read");
        if (facts.model_type != 2)
            return makeError(ErrorCode::Unavailable, path + ": SentencePiece model_type " +
                                                         std::to_string(facts.model_type) +
                                                         " is not supported (only BPE, 2; 1 is Unigram)");
        if (!facts.normalizer_name.empty() && facts.normalizer_name != "identity")
            return makeError(ErrorCode::Unavailable, path + ": SentencePiece normalizer '" + facts.normalizer_name +
                                                         "' is not supported (only identity)");
        const int n = sp.GetPieceSize();
        spec.vocab.pieces.reserve(static_cast<std::size_t>(n));
        spec.vocab.scores.reserve(static_cast<std::size_t>(n));
        spec.vocab.types.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            spec.vocab.pieces.push_back(sp.IdToPiece(i));
            spec.vocab.scores.push_back(sp.GetScore(i));
            const int32_t t = facts.piece_types[static_cast<std::size_t>(i)];
            spec.vocab.types.push_back(t >= 1 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Normal);
        }
        spec.vocab.finish();
        spec.vocab.unk = sp.unk_id();
        spec.bos = sp.bos_id();
        spec.eos = sp.eos_id();
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Corrupt, path + ": " + e.what());
    }
    spec.kind = "spm";
    spec.add_bos = true;  // LlamaTokenizer's default; tokenizer_config.json may say otherwise
    for (int32_t id = 0; id < spec.vocab.size(); ++id) {
        const TokenType t = spec.vocab.type(id);
        if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
            spec.added.push_back({spec.vocab.pieces[static_cast<std::size_t>(id)], id, false, false});
    }
    const std::string marker = "\xE2\x96\x81";  // "▁"
    if (facts.remove_extra_whitespaces)
        spec.normalizer.push_back({NormalizerOp::Kind::CollapseSpaces, {}, nullptr, {}});
    if (facts.add_dummy_prefix) spec.normalizer.push_back({NormalizerOp::Kind::Prepend, {}, nullptr, marker});
    if (facts.escape_whitespaces) spec.normalizer.push_back({NormalizerOp::Kind::Replace, " ", nullptr, marker});
    spec.model.ranking = BpeModel::Ranking::Scores;
    spec.model.byte_fallback = facts.byte_fallback;
    spec.decoder.byte_pieces = true;
    spec.decoder.space_marker = marker;
    spec.decoder.strip_leading_space = facts.add_dummy_prefix;
    return spec;
}

}  // namespace

Expected<TokenizerSpec> specFromSentencePiece(const std::string& path) {
    return specFromProcessor(path, [&](sentencepiece::SentencePieceProcessor& sp) { return sp.Load(path); });
}

Expected<TokenizerSpec> specFromSentencePieceBytes(const std::string& bytes, const std::string& what) {
    return specFromProcessor(
        what, [&](sentencepiece::SentencePieceProcessor& sp) { return sp.LoadFromSerializedProto(bytes); });
}

}  // namespace gqa::tok
