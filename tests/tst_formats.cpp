// Checkpoint formats: GGUF and safetensors readers (valid files, every refusal, hostile counts), the
// safetensors writer, and ModelConfig from config.json / GGUF metadata. Files are built byte by byte here
// from the format specifications, so the expected values come from the spec, not from the readers.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gqa/checkpoint.h"
#include "gqa/gguf.h"
#include "gqa/mapped_file.h"
#include "gqa/safetensors.h"

using namespace gqa;

namespace {

using Bytes = std::vector<uint8_t>;

// Little-endian GGUF writer (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), enough to build
// valid files and precisely broken ones.
struct GgufWriter {
    Bytes b;
    template <class T>
    GgufWriter& pod(T v) {
        uint8_t raw[sizeof(T)];
        std::memcpy(raw, &v, sizeof(T));
        b.insert(b.end(), raw, raw + sizeof(T));
        return *this;
    }
    GgufWriter& u32(uint32_t v) { return pod(v); }
    GgufWriter& u64(uint64_t v) { return pod(v); }
    GgufWriter& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    GgufWriter& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(tensors).u64(kvs);
    }
    GgufWriter& kvU32(const std::string& k, uint32_t v) { return str(k).u32(4).u32(v); }
    GgufWriter& kvF32(const std::string& k, float v) { return str(k).u32(6).pod(v); }
    GgufWriter& kvBool(const std::string& k, bool v) { return str(k).u32(7).pod(uint8_t(v)); }
    GgufWriter& kvStr(const std::string& k, const std::string& v) { return str(k).u32(8).str(v); }
    GgufWriter& kvStrArray(const std::string& k, const std::vector<std::string>& v) {
        str(k).u32(9).u32(8).u64(v.size());
        for (const auto& s : v) str(s);
        return *this;
    }
    GgufWriter& kvI32Array(const std::string& k, const std::vector<int32_t>& v) {
        str(k).u32(9).u32(5).u64(v.size());
        for (auto x : v) pod(x);
        return *this;
    }
    GgufWriter& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name).u32(uint32_t(ne.size()));
        for (auto n : ne) u64(n);
        return u32(type).u64(offset);
    }
    GgufWriter& pad(std::size_t alignment = 32) {
        while (b.size() % alignment) b.push_back(0);
        return *this;
    }
};

// A small valid GGUF: llama metadata, three tensors (F32, F16, Q8_0) with known contents.
struct SmallGguf {
    Bytes bytes;
    std::size_t data_start = 0;
};
SmallGguf smallGguf() {
    GgufWriter w;
    w.header(3, 13)
        .kvStr("general.architecture", "llama")
        .kvStr("general.name", "tiny test")
        .kvU32("general.alignment", 32)
        .kvU32("llama.block_count", 2)
        .kvU32("llama.embedding_length", 64)
        .kvU32("llama.feed_forward_length", 128)
        .kvU32("llama.attention.head_count", 4)
        .kvU32("llama.attention.head_count_kv", 2)
        .kvU32("llama.context_length", 256)
        .kvF32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
        .kvBool("tokenizer.ggml.add_bos_token", true)
        .kvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"})
        .kvI32Array("tokenizer.ggml.token_type", {2, 3, 3, 1});
    // token_embd: F32 (64, 4) = 1024 bytes at 0; blk.0.attn_q: F16 (64, 64) = 8192 at 1024;
    // output_norm: Q8_0 (64) = 2 blocks of 34 = 68 bytes at 9216.
    w.tensor("token_embd.weight", {64, 4}, 0, 0);
    w.tensor("blk.0.attn_q.weight", {64, 64}, 1, 1024);
    w.tensor("output_norm.weight", {64}, 8, 9216);
    w.pad();
    SmallGguf g;
    g.data_start = w.b.size();
    for (int i = 0; i < 256; ++i) w.pod(float(i));
    for (int i = 0; i < 64 * 64; ++i) w.pod(uint16_t(0x3c00));  // fp16 1.0
    for (int i = 0; i < 68; ++i) w.b.push_back(uint8_t(i));
    g.bytes = std::move(w.b);
    return g;
}

// safetensors bytes from a header text and a data section.
Bytes safetensors(const std::string& header, std::size_t data_bytes, uint64_t declared_len = UINT64_MAX) {
    Bytes b(8);
    const uint64_t len = declared_len == UINT64_MAX ? header.size() : declared_len;
    std::memcpy(b.data(), &len, 8);
    b.insert(b.end(), header.begin(), header.end());
    for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(uint8_t(i * 7));
    return b;
}

QByteArray qba(const Bytes& b) {
    return QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size()));
}
const uint8_t* u8(const QByteArray& a) {
    return reinterpret_cast<const uint8_t*>(a.constData());
}

QString testdata() {
#ifdef GQA_TESTDATA_DIR
    return QStringLiteral(GQA_TESTDATA_DIR);
#else
    return {};
#endif
}
#define REQUIRE_TESTDATA(rel)                                 \
    const QString dataPath = testdata() + "/" rel;            \
    if (testdata().isEmpty() || !QFileInfo::exists(dataPath)) \
    QSKIP(qPrintable("test data not found: " + (testdata().isEmpty() ? QString("GQA_TESTDATA_DIR unset") : dataPath)))

std::string readText(const QString& path) {
    std::ifstream f(path.toStdString());
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

// The tiny-llama-gqa facts of testdata/README.md (an implementation other than GQA Lab wrote them).
void checkTinyLlama(const ModelConfig& c) {
    QCOMPARE(c.architecture, std::string("LlamaForCausalLM"));
    QCOMPARE(c.d_model, int64_t(128));
    QCOMPARE(c.n_layers, int64_t(4));
    QCOMPARE(c.n_q_heads, int64_t(8));
    QCOMPARE(c.n_kv_heads, int64_t(2));
    QCOMPARE(c.head_dim, int64_t(16));
    QCOMPARE(c.ffn_dim, int64_t(352));
    QCOMPARE(c.vocab_size, int64_t(32000));
    QVERIFY(c.tied_embeddings);
    QVERIFY(!c.qkv_bias);
    QCOMPARE(c.rope_theta, 10000.0);
    QVERIFY(std::fabs(c.norm_eps - 1e-5) < 1e-12);
    QCOMPARE(c.max_seq, int64_t(2048));
    QCOMPARE(c.bos_token_id, int32_t(1));
    QCOMPARE(c.eos_token_ids, (std::vector<int32_t>{2}));
    QVERIFY(c.rope_scaling.type == RopeScaling::None);
    QCOMPARE(c.sliding_window, int64_t(0));
}

// A Llama-style config.json with fields replaced or removed ("key": null in `edits` removes it).
std::string hfConfig(const std::string& edits_json) {
    QJsonObject base{{"architectures", QJsonArray{"LlamaForCausalLM"}},
                     {"hidden_size", 256},
                     {"intermediate_size", 512},
                     {"num_hidden_layers", 2},
                     {"num_attention_heads", 8},
                     {"num_key_value_heads", 4},
                     {"max_position_embeddings", 1024},
                     {"vocab_size", 1000},
                     {"rms_norm_eps", 1e-6},
                     {"rope_theta", 500000.0},
                     {"hidden_act", "silu"},
                     {"torch_dtype", "bfloat16"},
                     {"bos_token_id", 1},
                     {"eos_token_id", 2}};
    const QJsonObject edits = QJsonDocument::fromJson(QByteArray::fromStdString(edits_json)).object();
    for (auto it = edits.begin(); it != edits.end(); ++it) {
        if (it.value().isNull() && it.key() != "rope_scaling" && it.key() != "eos_token_id" &&
            it.key() != "sliding_window")
            base.remove(it.key());
        else
            base[it.key()] = it.value();
    }
    return QJsonDocument(base).toJson().toStdString();
}

}  // namespace

class TstFormats : public QObject {
    Q_OBJECT
private slots:
    // ---- MappedFile ------------------------------------------------------------------------------
    void mappedFileErrors() {
        QTemporaryDir dir;
        const std::string missing = (dir.path() + "/missing.bin").toStdString();
        auto m = MappedFile::open(missing);
        QVERIFY(!m);
        QCOMPARE(m.error().code, ErrorCode::IoError);
        QVERIFY(m.error().message.find(missing) != std::string::npos);
        auto d = MappedFile::open(dir.path().toStdString());
        QVERIFY(!d);
        QCOMPARE(d.error().code, ErrorCode::IoError);
        QVERIFY(d.error().message.find("directory") != std::string::npos);
        QCOMPARE(fileSizeBytes(missing), int64_t(0));

        const std::string empty = (dir.path() + "/empty.bin").toStdString();
        std::ofstream(empty).close();
        auto e = MappedFile::open(empty);
        QVERIFY(e.isOk());
        QCOMPARE((*e)->size(), std::size_t(0));
        QVERIFY((*e)->data() == nullptr);

        const std::string five = (dir.path() + "/five.bin").toStdString();
        std::ofstream(five, std::ios::binary) << "hello";
        auto f = MappedFile::open(five);
        QVERIFY(f.isOk());
        QCOMPARE((*f)->size(), std::size_t(5));
        QCOMPARE(std::memcmp((*f)->data(), "hello", 5), 0);
        QCOMPARE((*f)->path(), five);
        QCOMPARE(fileSizeBytes(five), int64_t(5));
    }

    // ---- GGUF ------------------------------------------------------------------------------------
    void ggufTypeTable() {
        int64_t e = 0, b = 0;
        QVERIFY(ggmlTypeBlock(0, e, b) && e == 1 && b == 4);
        QVERIFY(ggmlTypeBlock(8, e, b) && e == 32 && b == 34);
        QVERIFY(ggmlTypeBlock(12, e, b) && e == 256 && b == 144);
        QVERIFY(ggmlTypeBlock(30, e, b) && e == 1 && b == 2);
        QVERIFY(!ggmlTypeBlock(4, e, b));
        QVERIFY(!ggmlTypeBlock(99, e, b));
        QCOMPARE(std::string(ggmlTypeName(14)), std::string("Q6_K"));
        QCOMPARE(std::string(ggmlTypeName(99)), std::string("unknown"));
    }

    void ggufParsesValidFile() {
        const SmallGguf s = smallGguf();
        auto g = parseGguf(s.bytes.data(), s.bytes.size(), "model.gguf");
        QVERIFY2(g.isOk(), g.isOk() ? "" : g.error().message.c_str());
        QCOMPARE(g->version, uint32_t(3));
        QCOMPARE(g->alignment, uint64_t(32));
        QCOMPARE(g->metadata.size(), std::size_t(13));
        QCOMPARE(g->getString("general.architecture"), std::optional<std::string>("llama"));
        QCOMPARE(g->getInt("llama.block_count"), std::optional<int64_t>(2));
        QCOMPARE(g->getInt("tokenizer.ggml.add_bos_token"), std::optional<int64_t>(1));
        QVERIFY(std::fabs(*g->getFloat("llama.attention.layer_norm_rms_epsilon") - 1e-5) < 1e-10);
        QCOMPARE(g->getFloat("llama.block_count"), std::optional<double>(2.0));  // integers read as floats too
        QVERIFY(!g->getInt("general.name"));
        QVERIFY(!g->find("no.such.key"));
        const GgufValue* tokens = g->find("tokenizer.ggml.tokens");
        QVERIFY(tokens && tokens->type == GgufType::Array && tokens->elem == GgufType::String);
        QCOMPARE(tokens->strings, (std::vector<std::string>{"<unk>", "<s>", "</s>", "a"}));
        QCOMPARE(g->find("tokenizer.ggml.token_type")->ints, (std::vector<int64_t>{2, 3, 3, 1}));

        QCOMPARE(g->tensors.size(), std::size_t(3));
        const GgufTensorInfo* e = g->findTensor("token_embd.weight");
        QVERIFY(e && e == &g->tensors[0]);
        QCOMPARE(e->ne, (std::vector<int64_t>{64, 4}));
        QCOMPARE(e->numel(), int64_t(256));
        QCOMPARE(e->bytes, int64_t(1024));
        QVERIFY(e->data == s.bytes.data() + s.data_start);
        float f = 0;
        std::memcpy(&f, e->data + 4 * 7, 4);
        QCOMPARE(f, 7.0f);
        const GgufTensorInfo* q = g->findTensor("blk.0.attn_q.weight");
        QVERIFY(q && q->ggml_type == 1 && q->bytes == 8192 && q->data == s.bytes.data() + s.data_start + 1024);
        const GgufTensorInfo* n = g->findTensor("output_norm.weight");
        QVERIFY(n && n->ggml_type == 8 && n->bytes == 68 && n->data[5] == 5);
        QVERIFY(!g->findTensor("output.weight"));
        QVERIFY(!g->mapping);

        auto c = configFromGguf(*g);
        QVERIFY2(c.isOk(), c.isOk() ? "" : c.error().message.c_str());
        QCOMPARE(c->d_model, int64_t(64));
        QCOMPARE(c->head_dim, int64_t(16));  // embedding_length / head_count: no key_length
        QCOMPARE(c->n_kv_heads, int64_t(2));
        QCOMPARE(c->vocab_size, int64_t(4));
        QCOMPARE(c->rope_theta, 10000.0);  // the llama.cpp default
        QVERIFY(c->tied_embeddings);
        QCOMPARE(c->weight_dtype, DType::F16);
        QCOMPARE(c->kv_dtype, DType::F32);  // checkpoints default to an exact fp32 cache
        QCOMPARE(c->name, std::string("tiny test"));
        QCOMPARE(c->bos_token_id, int32_t(-1));
    }

    void ggufVersion2AndNoTensors() {
        GgufWriter w;
        w.header(0, 1, 2).kvStr("general.architecture", "llama");  // vocab-only files end after the metadata
        auto g = parseGguf(w.b.data(), w.b.size(), "v2.gguf");
        QVERIFY(g.isOk());
        QCOMPARE(g->version, uint32_t(2));
        QVERIFY(g->tensors.empty());
        auto c = configFromGguf(*g);
        QVERIFY(!c);
        QVERIFY(c.error().message.find("v2.gguf: key 'llama.block_count' is missing") != std::string::npos);
    }

    void ggufRefusals_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("message");
        auto row = [](const char* name, const GgufWriter& w, const char* msg) {
            QTest::newRow(name) << qba(w.b) << msg;
        };
        QTest::newRow("empty") << QByteArray() << "bad magic (expected GGUF)";
        QTest::newRow("bad magic") << QByteArray("GGML\x03\0\0\0", 8) << "bad magic (expected GGUF)";
        row("version 7", GgufWriter().header(0, 0, 7), "unsupported GGUF version 7 (2 and 3 are read)");
        row("version 1", GgufWriter().header(0, 0, 1), "unsupported GGUF version 1");
        row("big-endian", GgufWriter().header(0, 0, 0x03000000), "big-endian");
        {
            GgufWriter w;
            w.header(0, 1).b.resize(20);  // kv count cut in half
            row("cut kv count", w, "key/value count at byte 16 runs past the end of the file (20 bytes)");
        }
        row("huge kv count", GgufWriter().header(0, uint64_t(1) << 60), "key/value count 1152921504606846976");
        row("huge tensor count", GgufWriter().header(uint64_t(1) << 60, 0), "tensor count 1152921504606846976");
        row("key length", GgufWriter().header(0, 1).u64(0xffffffffull).u32(0).u32(0),
            "key length 4294967295 at byte 24 runs past the end of the file (40 bytes)");
        row("string value length", GgufWriter().header(0, 1).str("k").u32(8).u64(uint64_t(1) << 62),
            "string length 4611686018427387904 at byte 37 runs past the end of the file (45 bytes)");
        row("array count", GgufWriter().header(0, 1).str("a").u32(9).u32(4).u64(uint64_t(1) << 60).u32(1),
            "array count 1152921504606846976 of key 'a' at byte 41 runs past the end of the file");
        row("string array element", GgufWriter().header(0, 1).str("a").u32(9).u32(8).u64(2).str("x").u64(100),
            "string length 100 at byte 58 runs past the end of the file (66 bytes)");
        row("string array count", GgufWriter().header(0, 1).str("a").u32(9).u32(8).u64(3).str("x"),
            "array count 3 of key 'a' at byte 41 runs past the end of the file (58 bytes)");
        row("array of arrays", GgufWriter().header(0, 1).str("a").u32(9).u32(9).u64(0), "array of arrays");
        row("unknown value type", GgufWriter().header(0, 1).str("k").u32(13).u32(0), "unknown value type 13");
        row("duplicate key", GgufWriter().header(0, 2).kvU32("k", 1).kvU32("k", 2), "duplicate key 'k'");
        row("bad alignment", GgufWriter().header(0, 1).kvU32("general.alignment", 24),
            "general.alignment must be a positive power of two (got 24)");
        auto one = [](const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                      std::size_t data) {
            GgufWriter w;
            w.header(1, 0).tensor(name, std::move(ne), type, offset).pad();
            w.b.resize(w.b.size() + data, 0);
            return w;
        };
        row("unknown tensor type", one("t", {32}, 99, 0, 128), "tensor 't' has unsupported ggml type id 99");
        row("five dims", one("t", {1, 1, 1, 1, 1}, 0, 0, 32), "tensor 't' has 5 dimensions (at most 4)");
        row("zero dim", one("t", {4, 0}, 0, 0, 32), "tensor 't' dimension 1 is zero");
        row("negative dim", one("t", {uint64_t(-2)}, 0, 0, 32), "tensor 't' dimension 0 is negative or huge");
        row("numel overflow", one("t", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0, 32),
            "tensor 't' element count overflows 64 bits");
        row("bytes overflow", one("t", {uint64_t(1) << 62}, 0, 0, 32), "tensor 't' byte size overflows 64 bits");
        row("row not a multiple of the block", one("t", {33}, 8, 0, 64),
            "tensor 't' row length 33 is not a multiple of Q8_0's block size 32");
        row("unaligned offset", one("t", {4}, 0, 8, 64), "tensor 't' offset 8 is not a multiple of the alignment (32)");
        row("data beyond the file", one("blk.0.attn_q.weight", {64, 64}, 30, 0, 100),
            "tensor 'blk.0.attn_q.weight' data [96, 8288) lies beyond the end of the file (196 bytes)");
        row("offset near 2^64", one("t", {4}, 0, uint64_t(-32), 16), "tensor 't' data");
        {
            GgufWriter w;
            w.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad();
            w.b.resize(w.b.size() + 64, 0);
            row("overlapping tensors", w, "tensors 'a' [96, 160) and 'b' [128, 160) overlap");
        }
        {
            GgufWriter w;
            w.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad();
            w.b.resize(w.b.size() + 64, 0);
            row("duplicate tensor", w, "duplicate tensor name 'a'");
        }
    }
    void ggufRefusals() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, message);
        auto g = parseGguf(u8(bytes), std::size_t(bytes.size()), "model.gguf");
        QVERIFY(!g);
        QCOMPARE(g.error().code, ErrorCode::Corrupt);
        const QString got = QString::fromStdString(g.error().message);
        QVERIFY2(got.startsWith("model.gguf: "), qPrintable(got));
        QVERIFY2(got.contains(message), qPrintable(got));
    }

    // Every truncation of a valid file is refused, and random byte damage never crashes or over-reads
    // (run under AddressSanitizer to make the second half mean something).
    void ggufTruncationsAndDamage() {
        const SmallGguf s = smallGguf();
        for (std::size_t n = 0; n < s.bytes.size(); ++n) {
            Bytes cut(s.bytes.begin(), s.bytes.begin() + std::ptrdiff_t(n));
            auto g = parseGguf(cut.data(), cut.size(), "cut.gguf");
            if (g) QFAIL(qPrintable(QString("a file cut to %1 bytes was accepted").arg(n)));
            QCOMPARE(g.error().code, ErrorCode::Corrupt);
        }
        std::mt19937 rng(7);
        const std::size_t header_end = s.data_start;  // damage in the data section is not detectable
        int refused = 0;
        for (int k = 0; k < 3000; ++k) {
            Bytes d = s.bytes;
            for (int m = 0; m < 3; ++m) d[rng() % header_end] = uint8_t(rng());
            // A heap copy of exactly the file's size, so that ASan sees any read past the end.
            std::unique_ptr<uint8_t[]> exact(new uint8_t[d.size()]);
            std::memcpy(exact.get(), d.data(), d.size());
            auto g = parseGguf(exact.get(), d.size(), "damaged.gguf");
            if (!g) {
                ++refused;
                QCOMPARE(g.error().code, ErrorCode::Corrupt);
            } else {
                for (const auto& t : g->tensors)
                    QVERIFY(t.data >= exact.get() && t.data + t.bytes <= exact.get() + d.size());
            }
        }
        QVERIFY(refused > 0);
    }

    // ---- safetensors -----------------------------------------------------------------------------
    void safetensorsDtypes() {
        QCOMPARE(safetensorsDtypeBytes("F64"), int64_t(8));
        QCOMPARE(safetensorsDtypeBytes("BF16"), int64_t(2));
        QCOMPARE(safetensorsDtypeBytes("I32"), int64_t(4));
        QCOMPARE(safetensorsDtypeBytes("BOOL"), int64_t(1));
        QCOMPARE(safetensorsDtypeBytes("F8_E5M2"), int64_t(1));
        QCOMPARE(safetensorsDtypeBytes("Q8_0"), int64_t(0));
        QCOMPARE(safetensorsDtypeBytes("bf16"), int64_t(0));
    }

    void safetensorsParsesValidFile() {
        // Listed out of data order on purpose: the reader returns data-offset order.
        const std::string h = R"({"b":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]},)"
                              R"("__metadata__":{"format":"pt"},)"
                              R"("a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},)"
                              R"("s":{"dtype":"I64","shape":[],"data_offsets":[32,40]},)"
                              R"("z":{"dtype":"F16","shape":[0,5],"data_offsets":[40,40]}})";
        const Bytes b = safetensors(h, 40);
        auto f = parseSafetensors(b.data(), b.size(), "model.safetensors");
        QVERIFY2(f.isOk(), f.isOk() ? "" : f.error().message.c_str());
        QCOMPARE(f->tensors.size(), std::size_t(4));
        QCOMPARE(f->tensors[0].name, std::string("a"));
        QCOMPARE(f->tensors[1].name, std::string("b"));
        QCOMPARE(f->metadata.at("format"), std::string("pt"));
        const uint8_t* data = b.data() + 8 + h.size();
        const SafetensorsTensor* t = f->find("b");
        QVERIFY(t && t->dtype == "F32" && t->shape == (std::vector<int64_t>{2, 3}) && t->numel() == 6);
        QVERIFY(t->data == data + 8 && t->bytes == 24);
        const SafetensorsTensor* s = f->find("s");
        QVERIFY(s && s->shape.empty() && s->numel() == 1 && s->bytes == 8);  // a scalar
        QVERIFY(f->find("z") && f->find("z")->bytes == 0);
        QVERIFY(!f->find("__metadata__"));
    }

    void safetensorsRoundTrip() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/out.safetensors").toStdString();
        std::vector<float> w(3 * 5);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.5f - 3.0f;
        std::vector<uint16_t> e = {1, 2, 3, 4, 5, 6, 7};
        std::vector<int64_t> ids = {-1, 42};
        const std::vector<SafetensorsWriteTensor> in = {
            {"model.embed.weight", "F32", {3, 5}, w.data(), int64_t(w.size() * 4)},
            {"odd", "BF16", {7}, e.data(), 14},
            {"ids", "I64", {2}, ids.data(), 16},
        };
        QVERIFY(writeSafetensors(path, in, {{"format", "pt"}, {"note", "written by tst_formats"}}).isOk());
        // Nothing but the file is left in the directory (the temporary was renamed).
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"out.safetensors"});

        auto f = readSafetensors(path);
        QVERIFY2(f.isOk(), f.isOk() ? "" : f.error().message.c_str());
        QVERIFY(f->mapping);
        QCOMPARE(f->path, path);
        QCOMPARE(f->metadata.size(), std::size_t(2));
        QCOMPARE(f->metadata.at("note"), std::string("written by tst_formats"));
        QCOMPARE(f->tensors.size(), std::size_t(3));
        for (std::size_t i = 0; i < in.size(); ++i) {
            const SafetensorsTensor& t = f->tensors[i];  // data order = the order written
            QCOMPARE(t.name, in[i].name);
            QCOMPARE(t.dtype, in[i].dtype);
            QCOMPARE(t.shape, in[i].shape);
            QCOMPARE(t.bytes, in[i].bytes);
            QCOMPARE(std::memcmp(t.data, in[i].data, std::size_t(t.bytes)), 0);
        }
        // The header is padded so the data start 8-byte aligned.
        uint64_t header_len = 0;
        std::memcpy(&header_len, f->mapping->data(), 8);
        QCOMPARE(header_len % 8, uint64_t(0));
        QVERIFY(f->tensors[0].data == f->mapping->data() + 8 + header_len);

        // Overwriting replaces the file whole.
        QVERIFY(writeSafetensors(path, {in[2]}).isOk());
        auto g = readSafetensors(path);
        QVERIFY(g.isOk() && g->tensors.size() == 1 && g->metadata.empty());

        // The writer refuses what no reader would accept.
        auto bad = in;
        bad[1].bytes = 12;
        Status s = writeSafetensors(path, bad);
        QVERIFY(!s);
        QCOMPARE(s.code(), ErrorCode::InvalidArgument);
        QVERIFY(s.message().find("tensor 'odd'") != std::string::npos);
        QVERIFY(!writeSafetensors(path, {in[0], in[0]}));
        QVERIFY(!writeSafetensors(path, {{"x", "Q4", {1}, e.data(), 1}}));
        Status io = writeSafetensors(dir.path().toStdString() + "/no/such/dir/x.safetensors", in);
        QVERIFY(!io);
        QCOMPARE(io.code(), ErrorCode::IoError);
        QVERIFY(io.message().find("no/such/dir/x.safetensors") != std::string::npos);
    }

    void safetensorsRefusals_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("message");
        auto row = [](const char* name, const Bytes& b, const char* msg) { QTest::newRow(name) << qba(b) << msg; };
        const std::string one = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        QTest::newRow("empty") << QByteArray() << "file is too short (0 bytes)";
        QTest::newRow("7 bytes") << QByteArray(7, '\0') << "file is too short (7 bytes)";
        const Bytes full = safetensors(one, 8);
        row("header cut", Bytes(full.begin(), full.begin() + 30),
            "header length 54 runs past the end of the file (30 bytes)");
        row("header length beyond the file", safetensors(one, 8, 1000), "header length 1000 runs past the end");
        row("header length above 100 MB", safetensors(one, 8, uint64_t(1) << 40), "above the 100 MB limit");
        row("not JSON", safetensors("{\"t\": [1, 2", 0), "header is not valid JSON");
        row("not an object", safetensors("[1, 2, 3]", 0), "header is not a JSON object");
        row("entry not an object", safetensors(R"({"t": 3})", 0), "tensor 't' is not a JSON object");
        row("no dtype", safetensors(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8), "tensor 't' lacks dtype");
        row("no shape", safetensors(R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", 8), "tensor 't' lacks shape");
        row("no offsets", safetensors(R"({"t":{"dtype":"F32","shape":[2]}})", 8), "tensor 't' lacks data_offsets");
        row("unknown dtype", safetensors(R"({"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8),
            "tensor 't' has unknown dtype 'Q4'");
        row("negative shape", safetensors(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
            "tensor 't' shape [-2] has a negative or non-integer dimension");
        row("fractional shape", safetensors(R"({"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
            "non-integer dimension");
        row("overflowing shape",
            safetensors(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
            "overflows 64 bits");
        row("shape and offsets disagree", safetensors(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
            "tensor 't' data_offsets [0, 8) hold 8 bytes but dtype F32 x shape [3] needs 12");
        row("offsets reversed", safetensors(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
            "are not 0 <= begin <= end");
        row("offsets not a pair", safetensors(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
            "data_offsets is not a [begin, end] pair");
        row("offsets out of range", safetensors(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8),
            "tensor 't' data_offsets [4, 12) lie outside the data section (8 bytes)");
        row("overlapping",
            safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        12),
            "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
        row("nested",
            safetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        16),
            "tensors 'a' [0, 16) and 'b' [4, 8) overlap");
        row("duplicate name",
            safetensors(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                        8),
            "header names 't' twice");
        row("metadata not strings", safetensors(R"({"__metadata__":{"n":3}})", 0),
            "__metadata__ value of 'n' is not a string");
    }
    void safetensorsRefusals() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, message);
        auto f = parseSafetensors(u8(bytes), std::size_t(bytes.size()), "model.safetensors");
        QVERIFY(!f);
        QCOMPARE(f.error().code, ErrorCode::Corrupt);
        const QString got = QString::fromStdString(f.error().message);
        QVERIFY2(got.startsWith("model.safetensors: "), qPrintable(got));
        QVERIFY2(got.contains(message), qPrintable(got));
    }

    void safetensorsTouchingIsFine() {
        const Bytes b = safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                    R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                                    8);
        QVERIFY(parseSafetensors(b.data(), b.size(), "x").isOk());
    }

    // ---- config.json -----------------------------------------------------------------------------
    void hfConfigs() {
        auto base = configFromHfJson(hfConfig("{}"), "config.json");
        QVERIFY2(base.isOk(), base.isOk() ? "" : base.error().message.c_str());
        QCOMPARE(base->head_dim, int64_t(32));  // 256 / 8
        QCOMPARE(base->rope_theta, 500000.0);
        QVERIFY(!base->tied_embeddings);  // the LlamaConfig default
        QVERIFY(!base->qkv_bias);
        QCOMPARE(base->weight_dtype, DType::BF16);
        QCOMPARE(base->kv_dtype, DType::F32);
        QCOMPARE(base->name, std::string("model"));
        QCOMPARE(base->source, std::string("config.json"));

        auto qwen = configFromHfJson(hfConfig(R"({"architectures":["Qwen2ForCausalLM"],"sliding_window":4096,)"
                                              R"("_name_or_path":"Qwen/Qwen2.5-0.5B"})"),
                                     "qwen.json");
        QVERIFY(qwen.isOk());
        QVERIFY(qwen->qkv_bias);
        QCOMPARE(qwen->sliding_window, int64_t(0));  // Qwen2: off unless use_sliding_window
        QCOMPARE(qwen->name, std::string("Qwen/Qwen2.5-0.5B"));
        auto qwen_sw = configFromHfJson(hfConfig(R"({"architectures":["Qwen2ForCausalLM"],"sliding_window":4096,)"
                                                 R"("use_sliding_window":true})"),
                                        "qwen.json");
        QVERIFY(qwen_sw.isOk());
        QCOMPARE(qwen_sw->sliding_window, int64_t(4096));

        auto mistral = configFromHfJson(hfConfig(R"({"architectures":["MistralForCausalLM"],"sliding_window":4096})"),
                                        "mistral.json");
        QVERIFY(mistral.isOk());
        QCOMPARE(mistral->sliding_window, int64_t(4096));
        QVERIFY(!mistral->qkv_bias);
        auto mistral_null = configFromHfJson(
            hfConfig(R"({"architectures":["MistralForCausalLM"],"sliding_window":null})"), "mistral.json");
        QVERIFY(mistral_null.isOk());
        QCOMPARE(mistral_null->sliding_window, int64_t(0));

        // Per-layer windows. Qwen2: layers from max_window_layers on slide (transformers' default layer_types).
        auto qwen_mwl = configFromHfJson(hfConfig(R"({"architectures":["Qwen2ForCausalLM"],"sliding_window":64,)"
                                                  R"("use_sliding_window":true,"max_window_layers":1})"),
                                         "qwen.json");
        QVERIFY2(qwen_mwl.isOk(), qwen_mwl.isOk() ? "" : qwen_mwl.error().message.c_str());
        QCOMPARE(qwen_mwl->windowOf(0), int64_t(0));
        QCOMPARE(qwen_mwl->windowOf(1), int64_t(64));
        QVERIFY(!qwen_sw->hasWindow());  // max_window_layers defaults to 28: none of the 2 layers slides
        auto qwen_all = configFromHfJson(hfConfig(R"({"architectures":["Qwen2ForCausalLM"],"sliding_window":64,)"
                                                  R"("use_sliding_window":true,"max_window_layers":0})"),
                                         "qwen.json");
        QVERIFY(qwen_all.isOk());
        QCOMPARE(qwen_all->windowText(), std::string("64"));  // max_window_layers 0 (as we write it): all slide
        // `layer_types` names each layer; it wins over max_window_layers.
        auto typed = configFromHfJson(hfConfig(R"({"architectures":["MistralForCausalLM"],"sliding_window":32,)"
                                               R"("layer_types":["full_attention","sliding_attention"]})"),
                                      "typed.json");
        QVERIFY2(typed.isOk(), typed.isOk() ? "" : typed.error().message.c_str());
        QCOMPARE(typed->windowOf(0), int64_t(0));
        QCOMPARE(typed->windowOf(1), int64_t(32));
        QCOMPARE(typed->windowText(), std::string("32 on 1 of 2 layers"));
        auto refused = [](const std::string& edits) {
            auto c = configFromHfJson(hfConfig(edits), "bad.json");
            return c.isOk() ? std::string() : c.error().message;
        };
        QVERIFY(refused(R"({"architectures":["MistralForCausalLM"],"sliding_window":32,)"
                        R"("layer_types":["sliding_attention"]})")
                    .find("one type per layer (2)") != std::string::npos);
        QVERIFY(refused(R"({"architectures":["MistralForCausalLM"],"sliding_window":32,)"
                        R"("layer_types":["chunked_attention","full_attention"]})")
                    .find("layer type 'chunked_attention'") != std::string::npos);
        QVERIFY(refused(R"({"architectures":["MistralForCausalLM"],"sliding_window":null,)"
                        R"("layer_types":["sliding_attention","full_attention"]})")
                    .find("no positive 'sliding_window'") != std::string::npos);

        // Llama 3.1 8B's rope_scaling.
        auto l3 = configFromHfJson(hfConfig(R"({"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,)"
                                            R"("high_freq_factor":4.0,"original_max_position_embeddings":8192,)"
                                            R"("rope_type":"llama3"},"eos_token_id":[128001,128008,128009]})"),
                                   "l3.json");
        QVERIFY2(l3.isOk(), l3.isOk() ? "" : l3.error().message.c_str());
        QVERIFY(l3->rope_scaling.type == RopeScaling::Llama3);
        QCOMPARE(l3->rope_scaling.factor, 8.0);
        QCOMPARE(l3->rope_scaling.low_freq_factor, 1.0);
        QCOMPARE(l3->rope_scaling.high_freq_factor, 4.0);
        QCOMPARE(l3->rope_scaling.original_max_position, int64_t(8192));
        QCOMPARE(l3->eos_token_ids, (std::vector<int32_t>{128001, 128008, 128009}));
        auto lin = configFromHfJson(hfConfig(R"({"rope_scaling":{"type":"linear","factor":4.0}})"), "lin.json");
        QVERIFY(lin.isOk() && lin->rope_scaling.type == RopeScaling::Linear && lin->rope_scaling.factor == 4.0);
        auto def = configFromHfJson(hfConfig(R"({"rope_scaling":{"rope_type":"default"}})"), "d.json");
        QVERIFY(def.isOk() && def->rope_scaling.type == RopeScaling::None);

        auto hd = configFromHfJson(hfConfig(R"({"head_dim":64,"attention_bias":true,"tie_word_embeddings":true})"),
                                   "hd.json");
        QVERIFY(hd.isOk());
        QCOMPARE(hd->head_dim, int64_t(64));  // explicit, not 256 / 8
        QVERIFY(hd->qkv_bias && hd->tied_embeddings);

        auto mha = configFromHfJson(hfConfig(R"({"num_key_value_heads":null})"), "mha.json");
        QVERIFY(mha.isOk());
        QCOMPARE(mha->n_kv_heads, int64_t(8));

        auto f32 = configFromHfJson(hfConfig(R"({"torch_dtype":"float32","bos_token_id":null,"eos_token_id":null})"),
                                    "f32.json");
        QVERIFY(f32.isOk());
        QCOMPARE(f32->weight_dtype, DType::F32);
        QCOMPARE(f32->kv_dtype, DType::F32);
        QCOMPARE(f32->bos_token_id, int32_t(-1));
        QVERIFY(f32->eos_token_ids.empty());
        auto f16 = configFromHfJson(hfConfig(R"({"torch_dtype":"float16"})"), "f16.json");
        QVERIFY(f16.isOk() && f16->weight_dtype == DType::F16 && f16->kv_dtype == DType::F32);
        auto nodt = configFromHfJson(hfConfig(R"({"torch_dtype":null})"), "n.json");
        QVERIFY(nodt.isOk() && nodt->weight_dtype == DType::BF16);
    }

    void hfConfigRefusals_data() {
        QTest::addColumn<QString>("edits");
        QTest::addColumn<QString>("message");
        QTest::newRow("unsupported architecture")
            << R"({"architectures":["GPT2LMHeadModel"]})"
            << "config.json: architecture 'GPT2LMHeadModel' is not supported (LlamaForCausalLM, MistralForCausalLM, "
               "Qwen2ForCausalLM)";
        QTest::newRow("no architectures") << R"({"architectures":null})"
                                          << "'architectures' is missing";
        QTest::newRow("heads do not divide") << R"({"num_key_value_heads":3})"
                                             << "config.json: n_q_heads (8) is not a multiple of n_kv_heads (3)";
        QTest::newRow("hidden does not divide") << R"({"hidden_size":250})"
                                                << "hidden_size (250) is not a multiple of num_attention_heads (8)";
        QTest::newRow("missing field") << R"({"hidden_size":null})"
                                       << "config.json: required field 'hidden_size' is missing";
        QTest::newRow("missing layers") << R"({"num_hidden_layers":null})"
                                        << "'num_hidden_layers' is missing";
        QTest::newRow("ill-typed field") << R"({"num_attention_heads":"8"})"
                                         << "field 'num_attention_heads' must be an integer (got \"8\")";
        QTest::newRow("fractional field") << R"({"intermediate_size":512.5})"
                                          << "'intermediate_size' must be an integer";
        QTest::newRow("gelu") << R"({"hidden_act":"gelu"})"
                              << "hidden_act 'gelu' is not supported (silu)";
        QTest::newRow("yarn") << R"({"rope_scaling":{"rope_type":"yarn","factor":4.0}})"
                              << "rope_scaling type 'yarn' is not supported";
        QTest::newRow("linear without factor") << R"({"rope_scaling":{"type":"linear"}})"
                                               << "rope_scaling: required field 'factor' is missing";
        QTest::newRow("llama3 incomplete") << R"({"rope_scaling":{"rope_type":"llama3","factor":8.0}})"
                                           << "required field 'low_freq_factor' is missing";
        QTest::newRow("dtype") << R"({"torch_dtype":"int8"})"
                               << "torch_dtype 'int8' is not supported";
        QTest::newRow("eos not an id") << R"({"eos_token_id":"</s>"})"
                                       << "field 'eos_token_id' must be an integer";
        QTest::newRow("tie not bool") << R"({"tie_word_embeddings":1})"
                                      << "'tie_word_embeddings' must be true or false";
        QTest::newRow("zero layers") << R"({"num_hidden_layers":0})"
                                     << "n_layers must be positive";
    }
    void hfConfigRefusals() {
        QFETCH(QString, edits);
        QFETCH(QString, message);
        auto c = configFromHfJson(hfConfig(edits.toStdString()), "config.json");
        QVERIFY(!c);
        const QString got = QString::fromStdString(c.error().message);
        QVERIFY2(got.startsWith("config.json: "), qPrintable(got));
        QVERIFY2(got.contains(message), qPrintable(got));
    }

    void hfConfigNotJson() {
        auto c = configFromHfJson("{\"hidden_size\": ", "broken.json");
        QVERIFY(!c);
        QCOMPARE(c.error().code, ErrorCode::Corrupt);
        QVERIFY(c.error().message.find("broken.json: not valid JSON") != std::string::npos);
        auto a = configFromHfJson("[]", "array.json");
        QVERIFY(!a && a.error().message == "array.json: not a JSON object");
    }

    void ggufConfigRefusals() {
        auto build = [](const std::string& arch, uint32_t q_type, bool kv_heads_ok = true) {
            GgufWriter w;
            w.header(1, 7)
                .kvStr("general.architecture", arch)
                .kvU32(arch + ".block_count", 1)
                .kvU32(arch + ".embedding_length", 64)
                .kvU32(arch + ".feed_forward_length", 128)
                .kvU32(arch + ".attention.head_count", 4)
                .kvU32(arch + ".attention.head_count_kv", kv_heads_ok ? 2 : 3)
                .kvU32(arch + ".context_length", 128);
            w.tensor("blk.0.attn_q.weight", {256, 64}, q_type, 0).pad();
            w.b.resize(w.b.size() + 256 * 64 * 4, 0);
            return w.b;
        };
        auto cfg = [](const Bytes& b) {
            auto g = parseGguf(b.data(), b.size(), "model.gguf");
            if (!g) return Expected<ModelConfig>(g.error());
            return configFromGguf(*g);
        };
        auto msg = [](const Expected<ModelConfig>& c) { return QString::fromStdString(c.error().message); };
        auto noEps = cfg(build("llama", 0));
        QVERIFY(!noEps);
        QVERIFY(msg(noEps).contains("model.gguf: key 'llama.attention.layer_norm_rms_epsilon' is missing"));
        auto gpt2 = cfg(build("gpt2", 0));
        QVERIFY(!gpt2);
        QVERIFY2(msg(gpt2).contains("model.gguf: general.architecture 'gpt2' is not supported (llama, qwen2)"),
                 qPrintable(msg(gpt2)));

        // With every key present, tensor types and head counts are what is left to refuse.
        auto full = [](const std::string& arch, uint32_t q_type, uint32_t kv_heads) {
            GgufWriter w;
            w.header(1, 9)
                .kvStr("general.architecture", arch)
                .kvU32(arch + ".block_count", 1)
                .kvU32(arch + ".embedding_length", 64)
                .kvU32(arch + ".feed_forward_length", 128)
                .kvU32(arch + ".attention.head_count", 4)
                .kvU32(arch + ".attention.head_count_kv", kv_heads)
                .kvU32(arch + ".context_length", 128)
                .kvF32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f)
                .kvU32(arch + ".vocab_size", 100);
            w.tensor("blk.0.attn_q.weight", {256, 64}, q_type, 0).pad();
            w.b.resize(w.b.size() + 256 * 64 * 4, 0);
            return w.b;
        };
        // llama.cpp's sliding_window_pattern: a period n (the last layer of every n is full) or one flag per layer.
        auto windowed = [](const std::function<void(GgufWriter&)>& pattern, uint64_t kvs) {
            GgufWriter w;
            w.header(1, kvs)
                .kvStr("general.architecture", "llama")
                .kvU32("llama.block_count", 4)
                .kvU32("llama.embedding_length", 64)
                .kvU32("llama.feed_forward_length", 128)
                .kvU32("llama.attention.head_count", 4)
                .kvU32("llama.attention.head_count_kv", 2)
                .kvU32("llama.context_length", 128)
                .kvF32("llama.attention.layer_norm_rms_epsilon", 1e-6f)
                .kvU32("llama.vocab_size", 100)
                .kvU32("llama.attention.sliding_window", 16);
            pattern(w);
            w.tensor("blk.0.attn_q.weight", {256, 64}, 0, 0).pad();
            w.b.resize(w.b.size() + 256 * 64 * 4, 0);
            return w.b;
        };
        auto period = cfg(windowed([](GgufWriter& w) { w.kvU32("llama.attention.sliding_window_pattern", 2); }, 11));
        QVERIFY2(period.isOk(), period.isOk() ? "" : qPrintable(msg(period)));
        for (int64_t l = 0; l < 4; ++l) QCOMPARE(period->windowOf(l), l % 2 == 0 ? int64_t(16) : int64_t(0));
        auto flags = cfg(windowed(
            [](GgufWriter& w) {
                w.kvI32Array("llama.attention.sliding_window_pattern", {1, 1, 1, 0});
            },
            11));
        QVERIFY2(flags.isOk(), flags.isOk() ? "" : qPrintable(msg(flags)));
        QCOMPARE(flags->windowText(), std::string("16 on 3 of 4 layers"));
        QCOMPARE(flags->windowOf(3), int64_t(0));
        auto uniform = cfg(windowed([](GgufWriter&) {}, 10));
        QVERIFY(uniform.isOk());
        QCOMPARE(uniform->windowText(), std::string("16"));
        auto short_flags = cfg(windowed(
            [](GgufWriter& w) {
                w.kvI32Array("llama.attention.sliding_window_pattern", {1, 0});
            },
            11));
        QVERIFY(!short_flags);
        QVERIFY(msg(short_flags).contains("sliding_window_pattern"));

        auto qwen = cfg(full("qwen2", 8, 2));
        QVERIFY2(qwen.isOk(), qwen.isOk() ? "" : qPrintable(msg(qwen)));
        QVERIFY(qwen->qkv_bias);
        QCOMPARE(qwen->architecture, std::string("Qwen2ForCausalLM"));
        QCOMPARE(qwen->weight_dtype, DType::Q8_0);
        QCOMPARE(qwen->kv_dtype, DType::F32);
        QCOMPARE(qwen->vocab_size, int64_t(100));
        auto q4k = cfg(full("llama", 12, 2));
        QVERIFY(!q4k);
        QVERIFY2(msg(q4k).contains("model.gguf: tensor type Q4_K is not supported (F32, F16, BF16, Q8_0)"),
                 qPrintable(msg(q4k)));
        auto heads = cfg(full("llama", 0, 3));
        QVERIFY(!heads);
        QVERIFY2(msg(heads).contains("model.gguf: n_q_heads (4) is not a multiple of n_kv_heads (3)"),
                 qPrintable(msg(heads)));
    }

    // ---- the real files in shared/testdata, read in place ------------------------------------------
    void realSafetensors() {
        REQUIRE_TESTDATA("models/tiny-llama-gqa/hf/model.safetensors");
        auto f = readSafetensors(dataPath.toStdString());
        QVERIFY2(f.isOk(), f.isOk() ? "" : f.error().message.c_str());
        QCOMPARE(f->tensors.size(), std::size_t(1 + 4 * 9 + 1));  // embedding, 4 layers of 9, final norm
        QCOMPARE(f->metadata.at("format"), std::string("pt"));
        const SafetensorsTensor* e = f->find("model.embed_tokens.weight");
        QVERIFY(e);
        QCOMPARE(e->dtype, std::string("BF16"));
        QCOMPARE(e->shape, (std::vector<int64_t>{32000, 128}));
        const SafetensorsTensor* k = f->find("model.layers.3.self_attn.k_proj.weight");
        QVERIFY(k && k->shape == (std::vector<int64_t>{2 * 16, 128}));
        QVERIFY(!f->find("lm_head.weight"));  // tied
        int64_t total = 0;
        for (const auto& t : f->tensors) {
            QCOMPARE(t.dtype, std::string("BF16"));
            total += t.bytes;
            QVERIFY(t.data >= f->mapping->data() && t.data + t.bytes <= f->mapping->data() + f->mapping->size());
        }
        QCOMPARE(uint64_t(f->tensors.back().data + f->tensors.back().bytes - f->mapping->data()),
                 uint64_t(f->mapping->size()));
        QCOMPARE(total, int64_t(f->mapping->size()) - int64_t(f->tensors[0].data - f->mapping->data()));
    }

    void realHfConfig() {
        REQUIRE_TESTDATA("models/tiny-llama-gqa/hf/config.json");
        auto c = configFromHfJson(readText(dataPath), dataPath.toStdString());
        QVERIFY2(c.isOk(), c.isOk() ? "" : c.error().message.c_str());
        checkTinyLlama(*c);
        QCOMPARE(c->weight_dtype, DType::BF16);
    }

    void realGguf_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("q_type");
        QTest::addColumn<int>("dtype");
        QTest::newRow("bf16") << "tiny-llama-gqa-bf16.gguf" << 30 << int(DType::BF16);
        QTest::newRow("q8_0") << "tiny-llama-gqa-q8_0.gguf" << 8 << int(DType::Q8_0);
    }
    void realGguf() {
        QFETCH(QString, file);
        QFETCH(int, q_type);
        QFETCH(int, dtype);
        REQUIRE_TESTDATA("models/tiny-llama-gqa");
        const std::string path = (dataPath + "/" + file).toStdString();
        auto g = readGguf(path);
        QVERIFY2(g.isOk(), g.isOk() ? "" : g.error().message.c_str());
        QCOMPARE(g->version, uint32_t(3));
        QVERIFY(g->mapping);
        QCOMPARE(g->tensors.size(), std::size_t(1 + 4 * 9 + 1));
        const GgufTensorInfo* e = g->findTensor("token_embd.weight");
        QVERIFY(e);
        QCOMPARE(e->ne, (std::vector<int64_t>{128, 32000}));  // GGUF order: row length first
        int64_t be = 0, bb = 0;
        QVERIFY(ggmlTypeBlock(e->ggml_type, be, bb));
        QCOMPARE(e->bytes, 128 * 32000 / be * bb);
        const GgufTensorInfo* q = g->findTensor("blk.0.attn_q.weight");
        QVERIFY(q && int(q->ggml_type) == q_type && q->ne == (std::vector<int64_t>{128, 128}));
        const GgufTensorInfo* k = g->findTensor("blk.2.attn_k.weight");
        QVERIFY(k && k->ne == (std::vector<int64_t>{128, 32}));
        const GgufTensorInfo* n = g->findTensor("output_norm.weight");
        QVERIFY(n && n->ggml_type == 0 && n->ne == (std::vector<int64_t>{128}));
        for (const auto& t : g->tensors)
            QVERIFY(t.data >= g->mapping->data() && t.data + t.bytes <= g->mapping->data() + g->mapping->size());
        QCOMPARE(g->find("tokenizer.ggml.tokens")->strings.size(), std::size_t(32000));

        auto c = configFromGguf(*g);
        QVERIFY2(c.isOk(), c.isOk() ? "" : c.error().message.c_str());
        checkTinyLlama(*c);
        QCOMPARE(int(c->weight_dtype), dtype);
        QCOMPARE(c->kv_dtype, DType::F32);
        QCOMPARE(c->source, path);
    }

    void realVocabOnlyGguf_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("vocab");
        QTest::newRow("llama-spm") << "ggml-vocab-llama-spm.gguf" << 32000;
        QTest::newRow("deepseek-llm") << "ggml-vocab-deepseek-llm.gguf" << 0;  // size not published: non-empty
    }
    void realVocabOnlyGguf() {
        QFETCH(QString, file);
        QFETCH(int, vocab);
        REQUIRE_TESTDATA("tokenizers");
        auto g = readGguf((dataPath + "/" + file).toStdString());
        QVERIFY2(g.isOk(), g.isOk() ? "" : g.error().message.c_str());
        QVERIFY(g->tensors.empty());
        QVERIFY(g->getString("tokenizer.ggml.model").has_value());
        const GgufValue* tokens = g->find("tokenizer.ggml.tokens");
        QVERIFY(tokens && tokens->elem == GgufType::String);
        if (vocab > 0)
            QCOMPARE(int(tokens->strings.size()), vocab);
        else
            QVERIFY(!tokens->strings.empty());
        auto c = configFromGguf(*g);
        QVERIFY(!c);  // no hyper-parameters, no tensors: not a model
    }
};

QTEST_APPLESS_MAIN(TstFormats)
#include "tst_formats.moc"
