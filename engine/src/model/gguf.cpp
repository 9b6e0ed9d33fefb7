// GGUF reader. Every length and count read from the file is checked against the bytes that remain before
// anything is allocated for it, so a hostile file can neither crash the reader nor make it allocate much
// more than its own size.
#include "gqa/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <new>

#include "checked_math.h"

namespace gqa {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

struct GgmlTypeInfo {
    uint32_t id;
    const char* name;
    int64_t block_elems;
    int64_t block_bytes;
};

// Block sizes from ggml's type traits (ggml.c); ids 4/5 (Q4_2/Q4_3) and 16-23 (IQ*) are not read.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},      {27, "I64", 1, 8},      {28, "F64", 1, 8},      {30, "BF16", 1, 2},
};

const GgmlTypeInfo* ggmlType(uint32_t id) {
    for (const auto& t : kGgmlTypes)
        if (t.id == id) return &t;
    return nullptr;
}

const char* valueTypeName(uint32_t t) {
    static const char* const names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                        "bool",  "string", "array",  "uint64", "int64",  "float64"};
    return t < std::size(names) ? names[t] : "unknown";
}

// Encoded size of a scalar value type; strings count their 8-byte length only (their minimum); 0 if unknown.
uint64_t minEncodedBytes(uint32_t t) {
    switch (static_cast<GgufType>(t)) {
        case GgufType::UInt8:
        case GgufType::Int8:
        case GgufType::Bool: return 1;
        case GgufType::UInt16:
        case GgufType::Int16: return 2;
        case GgufType::UInt32:
        case GgufType::Int32:
        case GgufType::Float32: return 4;
        case GgufType::UInt64:
        case GgufType::Int64:
        case GgufType::Float64:
        case GgufType::String: return 8;
        case GgufType::Array: return 12;  // element type + count
    }
    return 0;
}

bool isIntegerType(GgufType t) {
    switch (t) {
        case GgufType::UInt8:
        case GgufType::Int8:
        case GgufType::UInt16:
        case GgufType::Int16:
        case GgufType::UInt32:
        case GgufType::Int32:
        case GgufType::UInt64:
        case GgufType::Int64:
        case GgufType::Bool: return true;
        default: return false;
    }
}

// A bounds-checked little-endian cursor over the file. Failures set `error` and make later reads fail too,
// so callers check once per logical item.
class Reader {
public:
    Reader(const uint8_t* p, std::size_t n, const std::string& name) : m_p(p), m_n(n), m_name(name) {}

    std::size_t pos() const { return m_pos; }
    std::size_t size() const { return m_n; }
    std::size_t remaining() const { return m_n - m_pos; }
    bool failed() const { return m_failed; }
    const Error& error() const { return m_error; }

    bool fail(const std::string& msg) {
        if (!m_failed) {
            m_failed = true;
            m_error = makeError(ErrorCode::Corrupt, m_name + ": " + msg);
        }
        return false;
    }
    std::string endOfFile() const { return "the end of the file (" + std::to_string(m_n) + " bytes)"; }

    bool need(uint64_t bytes, const char* what) {
        if (m_failed) return false;
        if (bytes > remaining())
            return fail(std::string(what) + " at byte " + std::to_string(m_pos) + " runs past " + endOfFile());
        return true;
    }

    template <class T>
    bool read(T& out, const char* what) {
        if (!need(sizeof(T), what)) return false;
        std::memcpy(&out, m_p + m_pos, sizeof(T));
        m_pos += sizeof(T);
        return true;
    }

    bool readString(std::string& out, const char* what) {
        const std::size_t at = m_pos;
        uint64_t len = 0;
        if (!read(len, what)) return false;
        if (len > remaining())
            return fail(std::string(what) + " length " + std::to_string(len) + " at byte " + std::to_string(at) +
                        " runs past " + endOfFile());
        out.assign(reinterpret_cast<const char*>(m_p + m_pos), static_cast<std::size_t>(len));
        m_pos += static_cast<std::size_t>(len);
        return true;
    }

private:
    const uint8_t* m_p;
    std::size_t m_n;
    std::size_t m_pos = 0;
    const std::string& m_name;
    bool m_failed = false;
    Error m_error;
};

template <class T, class Out>
bool readAs(Reader& r, Out& out, const char* what) {
    T v{};
    if (!r.read(v, what)) return false;
    out = static_cast<Out>(v);
    return true;
}

// Reads one scalar of type `t` into the integer / float / string slot that matches it. uint64 values above
// INT64_MAX keep their bits: every count this project reads is far below that.
bool readScalar(Reader& r, GgufType t, int64_t& i, double& f, std::string& s) {
    switch (t) {
        case GgufType::UInt8: return readAs<uint8_t>(r, i, "uint8 value");
        case GgufType::Int8: return readAs<int8_t>(r, i, "int8 value");
        case GgufType::UInt16: return readAs<uint16_t>(r, i, "uint16 value");
        case GgufType::Int16: return readAs<int16_t>(r, i, "int16 value");
        case GgufType::UInt32: return readAs<uint32_t>(r, i, "uint32 value");
        case GgufType::Int32: return readAs<int32_t>(r, i, "int32 value");
        case GgufType::UInt64: return readAs<uint64_t>(r, i, "uint64 value");
        case GgufType::Int64: return readAs<int64_t>(r, i, "int64 value");
        case GgufType::Float32: return readAs<float>(r, f, "float32 value");
        case GgufType::Float64: return readAs<double>(r, f, "float64 value");
        case GgufType::Bool: {
            uint8_t v = 0;
            if (!r.read(v, "bool value")) return false;
            i = v != 0;
            return true;
        }
        case GgufType::String: return r.readString(s, "string");
        case GgufType::Array: break;
    }
    return r.fail("internal: readScalar on an array");
}

bool readValue(Reader& r, const std::string& key, GgufValue& v) {
    const std::size_t at = r.pos();
    uint32_t type = 0;
    if (!r.read(type, "value type")) return false;
    if (minEncodedBytes(type) == 0)
        return r.fail("key '" + key + "' has unknown value type " + std::to_string(type) + " at byte " +
                      std::to_string(at));
    v.type = static_cast<GgufType>(type);
    if (v.type != GgufType::Array) return readScalar(r, v.type, v.i, v.f, v.s);

    uint32_t elem = 0;
    uint64_t count = 0;
    if (!r.read(elem, "array element type")) return false;
    const std::size_t count_at = r.pos();
    if (!r.read(count, "array count")) return false;
    const uint64_t elem_min = minEncodedBytes(elem);
    if (elem_min == 0) return r.fail("key '" + key + "' is an array of unknown type " + std::to_string(elem));
    if (static_cast<GgufType>(elem) == GgufType::Array)
        return r.fail("key '" + key + "' is an array of arrays (not supported)");
    v.elem = static_cast<GgufType>(elem);
    // Division, not multiplication: count * elem_min could wrap for a hostile count.
    if (count > r.remaining() / elem_min)
        return r.fail("array count " + std::to_string(count) + " of key '" + key + "' at byte " +
                      std::to_string(count_at) + " runs past " + r.endOfFile());
    const auto n = static_cast<std::size_t>(count);
    int64_t i = 0;
    double f = 0.0;
    std::string s;
    if (v.elem == GgufType::String) {
        v.strings.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            if (!r.readString(s, "string")) return false;
            v.strings.push_back(std::move(s));
        }
    } else if (v.elem == GgufType::Float32 || v.elem == GgufType::Float64) {
        v.floats.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            if (!readScalar(r, v.elem, i, f, s)) return false;
            v.floats.push_back(f);
        }
    } else {
        v.ints.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            if (!readScalar(r, v.elem, i, f, s)) return false;
            v.ints.push_back(i);
        }
    }
    return true;
}

bool readTensorInfo(Reader& r, GgufTensorInfo& t) {
    if (!r.readString(t.name, "tensor name")) return false;
    uint32_t n_dims = 0;
    if (!r.read(n_dims, "tensor dimension count")) return false;
    if (n_dims > kMaxDims)
        return r.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (at most 4)");
    t.ne.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne = 0;
        if (!r.read(ne, "tensor dimension")) return false;
        if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX))
            return r.fail("tensor '" + t.name + "' dimension " + std::to_string(d) + " is " +
                          (ne == 0 ? std::string("zero") : "negative or huge (" + std::to_string(ne) + ")"));
        t.ne[d] = static_cast<int64_t>(ne);
    }
    if (!r.read(t.ggml_type, "tensor type")) return false;
    if (!r.read(t.offset, "tensor offset")) return false;

    int64_t numel = 1;
    for (int64_t ne : t.ne)
        if (__builtin_mul_overflow(numel, ne, &numel))
            return r.fail("tensor '" + t.name + "' element count overflows 64 bits");
    int64_t block_elems = 0, block_bytes = 0;
    if (!ggmlTypeBlock(t.ggml_type, block_elems, block_bytes))
        return r.fail("tensor '" + t.name + "' has unsupported ggml type id " + std::to_string(t.ggml_type));
    const int64_t row = t.ne.empty() ? 1 : t.ne[0];
    if (row % block_elems != 0)
        return r.fail("tensor '" + t.name + "' row length " + std::to_string(row) + " is not a multiple of " +
                      ggmlTypeName(t.ggml_type) + "'s block size " + std::to_string(block_elems));
    const auto bytes = checkedProduct({numel / block_elems, block_bytes});
    if (!bytes) return r.fail("tensor '" + t.name + "' byte size overflows 64 bits");
    t.bytes = *bytes;
    return true;
}

std::string u128(unsigned __int128 v) {
    if (v <= UINT64_MAX) return std::to_string(static_cast<uint64_t>(v));
    std::string s;
    while (v) {
        s.insert(s.begin(), char('0' + int(v % 10)));
        v /= 10;
    }
    return s;
}

std::string range(unsigned __int128 begin, unsigned __int128 end) {
    return "[" + u128(begin) + ", " + u128(end) + ")";
}

Expected<GgufFile> parse(const uint8_t* bytes, std::size_t size, const std::string& name) {
    Reader r(bytes, size, name);
    GgufFile g;
    g.path = name;

    if (size < 4 || std::memcmp(bytes, "GGUF", 4) != 0) {
        r.fail("bad magic (expected GGUF)");
        return r.error();
    }
    char magic[4];
    r.read(magic, "magic");
    if (!r.read(g.version, "version")) return r.error();
    if (g.version != 2 && g.version != 3) {
        // A big-endian writer (ggml's --bigendian) makes version 3 read as 0x03000000.
        const bool swapped = g.version == 0x02000000u || g.version == 0x03000000u;
        r.fail("unsupported GGUF version " + std::to_string(g.version) + " (2 and 3 are read)" +
               (swapped ? "; this looks like a big-endian file" : ""));
        return r.error();
    }
    uint64_t tensor_count = 0, kv_count = 0;
    if (!r.read(tensor_count, "tensor count") || !r.read(kv_count, "key/value count")) return r.error();
    // The smallest key/value is 13 bytes (empty key, type, one byte); the smallest tensor info 24 bytes.
    if (kv_count > r.remaining() / 13) {
        r.fail("key/value count " + std::to_string(kv_count) + " is more than the file can hold (" +
               std::to_string(size) + " bytes)");
        return r.error();
    }
    if (tensor_count > r.remaining() / 24) {
        r.fail("tensor count " + std::to_string(tensor_count) + " is more than the file can hold (" +
               std::to_string(size) + " bytes)");
        return r.error();
    }

    for (uint64_t k = 0; k < kv_count; ++k) {
        std::string key;
        if (!r.readString(key, "key")) return r.error();
        GgufValue v;
        if (!readValue(r, key, v)) return r.error();
        if (g.metadata.count(key)) {
            r.fail("duplicate key '" + key + "'");
            return r.error();
        }
        g.metadata.emplace(std::move(key), std::move(v));
    }
    if (const GgufValue* a = g.find("general.alignment")) {
        if (!a->isInteger() || a->i <= 0 || !std::has_single_bit(static_cast<uint64_t>(a->i))) {
            r.fail("general.alignment must be a positive power of two (got " +
                   (a->isInteger() ? std::to_string(a->i) : std::string(valueTypeName(uint32_t(a->type)))) + ")");
            return r.error();
        }
        g.alignment = static_cast<uint64_t>(a->i);
    }

    g.tensors.reserve(static_cast<std::size_t>(tensor_count));  // bounded by the file size above
    for (uint64_t k = 0; k < tensor_count; ++k) {
        GgufTensorInfo t;
        if (!readTensorInfo(r, t)) return r.error();
        if (t.offset % g.alignment != 0) {
            r.fail("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not a multiple of the " +
                   "alignment (" + std::to_string(g.alignment) + ")");
            return r.error();
        }
        g.tensors.push_back(std::move(t));
    }
    {
        std::vector<const std::string*> names;
        names.reserve(g.tensors.size());
        for (const auto& t : g.tensors) names.push_back(&t.name);
        std::sort(names.begin(), names.end(), [](auto a, auto b) { return *a < *b; });
        for (std::size_t k = 1; k < names.size(); ++k)
            if (*names[k] == *names[k - 1]) {
                r.fail("duplicate tensor name '" + *names[k] + "'");
                return r.error();
            }
    }

    // The data section starts at the next multiple of the alignment; with no tensors it may be absent.
    const uint64_t pos = r.pos();
    const uint64_t data_start = (pos + g.alignment - 1) / g.alignment * g.alignment;
    for (auto& t : g.tensors) {
        // 128-bit sums: a hostile offset near 2^64 must not wrap into the file.
        const unsigned __int128 begin = static_cast<unsigned __int128>(data_start) + t.offset;
        const unsigned __int128 end = begin + static_cast<uint64_t>(t.bytes);
        if (end > size) {
            r.fail("tensor '" + t.name + "' data " + range(begin, end) + " lies beyond " + r.endOfFile());
            return r.error();
        }
        t.data = bytes + static_cast<std::size_t>(begin);
    }
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(g.tensors.size());
    for (const auto& t : g.tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto a, auto b) { return a->offset < b->offset; });
    for (std::size_t k = 1; k < by_offset.size(); ++k) {
        const auto* a = by_offset[k - 1];
        const auto* b = by_offset[k];
        if (b->offset < a->offset + static_cast<uint64_t>(a->bytes)) {
            r.fail("tensors '" + a->name + "' " + range(data_start + a->offset, data_start + a->offset + a->bytes) +
                   " and '" + b->name + "' " + range(data_start + b->offset, data_start + b->offset + b->bytes) +
                   " overlap");
            return r.error();
        }
    }
    return g;
}

}  // namespace

const char* ggmlTypeName(uint32_t ggml_type) {
    const GgmlTypeInfo* t = ggmlType(ggml_type);
    return t ? t->name : "unknown";
}

bool ggmlTypeBlock(uint32_t ggml_type, int64_t& block_elems, int64_t& block_bytes) {
    const GgmlTypeInfo* t = ggmlType(ggml_type);
    if (!t) return false;
    block_elems = t->block_elems;
    block_bytes = t->block_bytes;
    return true;
}

bool GgufValue::isInteger() const {
    return isIntegerType(type);
}
bool GgufValue::isFloat() const {
    return type == GgufType::Float32 || type == GgufType::Float64;
}

int64_t GgufTensorInfo::numel() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;  // checked when the file was read
    return n;
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = metadata.find(key);
    return it == metadata.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::getInt(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v || !v->isInteger()) return std::nullopt;
    return v->i;
}

std::optional<double> GgufFile::getFloat(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->isFloat()) return v->f;
    if (v->isInteger()) return static_cast<double>(v->i);
    return std::nullopt;
}

std::optional<std::string> GgufFile::getString(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v || v->type != GgufType::String) return std::nullopt;
    return v->s;
}

const GgufTensorInfo* GgufFile::findTensor(const std::string& name) const {
    for (const auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

Expected<GgufFile> parseGguf(const uint8_t* bytes, std::size_t size, const std::string& name) {
    if (!bytes) size = 0;
    try {
        return parse(bytes, size, name);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, name + ": out of memory while reading the GGUF header");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, name + ": " + e.what());
    }
}

Expected<GgufFile> readGguf(const std::string& path) {
    auto m = MappedFile::open(path);
    if (!m) return m.error();
    auto g = parseGguf((*m)->data(), (*m)->size(), path);
    if (!g) return g.error();
    g->mapping = *m;
    return g;
}

}  // namespace gqa
