#include "tokenizer/pipeline.h"

#include <cstdio>

#include "tokenizer/unicode.h"

namespace gqa::tok {

PipelineTokenizer::PipelineTokenizer(TokenizerSpec spec) : m_spec(std::move(spec)) {
    m_bos = m_spec.bos;
    m_eos = m_spec.eos;
    m_add_bos = m_spec.add_bos && m_spec.bos >= 0;
    m_splitter.build(m_spec.added);
}

Expected<std::shared_ptr<const Tokenizer>> PipelineTokenizer::create(TokenizerSpec spec) {
    const std::string& src = spec.source;
    if (spec.vocab.pieces.empty()) return makeError(ErrorCode::Corrupt, src + ": the vocabulary is empty");
    if (!spec.vocab.scores.empty() && spec.vocab.scores.size() != spec.vocab.pieces.size())
        return makeError(ErrorCode::Corrupt, src + ": " + std::to_string(spec.vocab.scores.size()) + " scores for " +
                                                 std::to_string(spec.vocab.pieces.size()) + " tokens");
    if (!spec.vocab.types.empty() && spec.vocab.types.size() != spec.vocab.pieces.size())
        return makeError(ErrorCode::Corrupt, src + ": " + std::to_string(spec.vocab.types.size()) +
                                                 " token types for " + std::to_string(spec.vocab.pieces.size()) +
                                                 " tokens");
    const int32_t n = spec.vocab.size();
    auto checkId = [&](int32_t id, const char* what) -> Status {
        if (id < -1 || id >= n)
            return makeError(ErrorCode::Corrupt, src + ": " + what + " " + std::to_string(id) +
                                                     " is outside the vocabulary (" + std::to_string(n) + " tokens)");
        return Status::ok();
    };
    GQA_TRY(checkId(spec.bos, "BOS id"));
    GQA_TRY(checkId(spec.eos, "EOS id"));
    for (const AddedToken& t : spec.added) {
        if (t.id < 0) return makeError(ErrorCode::Corrupt, src + ": added token '" + t.content + "' has no id");
        GQA_TRY(checkId(t.id, "added token id"));
    }
    if (spec.vocab.index.empty() || spec.vocab.types.empty()) spec.vocab.finish();
    for (int32_t id = 0; id < n && !spec.model.has_unused; ++id)
        spec.model.has_unused = spec.vocab.type(id) == TokenType::Unused;
    return std::shared_ptr<const Tokenizer>(new PipelineTokenizer(std::move(spec)));
}

std::vector<int32_t> PipelineTokenizer::encode(std::string_view text, bool add_bos) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && m_spec.bos >= 0) out.push_back(m_spec.bos);
    const std::vector<Fragment> frags = m_splitter.empty() ? std::vector<Fragment>{{text, -1}} : m_splitter.split(text);
    bool first = true;
    PreTokenized pieces;  // buffers reused by every fragment
    std::string mapped;
    for (const Fragment& f : frags) {
        if (f.id >= 0) {
            out.push_back(f.id);
        } else if (!f.text.empty()) {
            const std::string normalized = normalize(m_spec.normalizer, f.text);
            if (m_spec.pre.stages.empty()) {
                m_spec.model.encode(m_spec.vocab, normalized, out);
            } else {
                m_spec.pre.run(normalized, first, pieces);
                for (const PreSpan& p : pieces.pieces) {
                    if (m_spec.pre.byte_level) {
                        mapped.clear();
                        appendBytesToUnicode(pieces.view(p), mapped);
                        m_spec.model.encode(m_spec.vocab, mapped, out);
                    } else {
                        m_spec.model.encode(m_spec.vocab, pieces.view(p), out);
                    }
                }
            }
        }
        first = false;
    }
    return out;
}

void PipelineTokenizer::appendBytes(int32_t id, std::string& out) const {
    const std::string& p = m_spec.vocab.pieces[static_cast<std::size_t>(id)];
    const TokenType t = m_spec.vocab.type(id);
    if (t == TokenType::UserDefined) {
        out += p;  // added tokens hold their text as it is
        return;
    }
    if (m_spec.decoder.byte_pieces) {
        const int b = parseBytePiece(p);
        if (b >= 0) {
            out += static_cast<char>(b);
            return;
        }
    }
    if (m_spec.decoder.byte_level) {
        out += unicodeToBytes(p);
        return;
    }
    const std::string& marker = m_spec.decoder.space_marker;
    if (marker.empty()) {
        out += p;
        return;
    }
    std::size_t last = 0;
    for (std::size_t pos = p.find(marker); pos != std::string::npos; pos = p.find(marker, last)) {
        out.append(p, last, pos - last);
        out += ' ';
        last = pos + marker.size();
    }
    out.append(p, last, std::string::npos);
}

std::string PipelineTokenizer::decode(const std::vector<int32_t>& ids) const {
    std::string out;
    for (int32_t id : ids) {
        if (id < 0 || id >= m_spec.vocab.size()) continue;
        const TokenType t = m_spec.vocab.type(id);
        if (t == TokenType::Control || t == TokenType::Unknown) continue;
        appendBytes(id, out);
    }
    if (m_spec.decoder.strip_leading_space && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
}

std::string PipelineTokenizer::piece(int32_t id) const {
    if (id < 0 || id >= m_spec.vocab.size()) return {};
    return m_spec.vocab.pieces[static_cast<std::size_t>(id)];
}

std::string PipelineTokenizer::displayPiece(int32_t id) const {
    if (id < 0 || id >= m_spec.vocab.size()) return {};
    const TokenType t = m_spec.vocab.type(id);
    if (t == TokenType::Control || t == TokenType::Unknown) return m_spec.vocab.pieces[static_cast<std::size_t>(id)];
    std::string bytes;
    appendBytes(id, bytes);
    if (isValidUtf8(bytes)) return bytes;
    // A lone part of a multi-byte character: show its bytes.
    std::string shown;
    for (char c : bytes) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(static_cast<uint8_t>(c)));
        shown += buf;
    }
    return shown;
}

}  // namespace gqa::tok
