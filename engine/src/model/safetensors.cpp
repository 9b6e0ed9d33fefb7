// safetensors reader and writer. The JSON header is parsed with nlohmann::json; every field of every entry
// is checked, and the data ranges are checked against each other and the file, before a pointer is handed
// out.
#include "gqa/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <set>

#include <nlohmann/json.hpp>

#include "checked_math.h"

namespace gqa {

static_assert(std::endian::native == std::endian::little, "the safetensors reader assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // the limit the reference implementation uses

Error corrupt(const std::string& name, const std::string& msg) {
    return makeError(ErrorCode::Corrupt, name + ": " + msg);
}

std::string range(uint64_t begin, uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// A non-negative JSON integer as int64, or nullopt (negative, fractional, too large, not a number).
std::optional<int64_t> nonNegative(const nlohmann::json& j) {
    if (j.is_number_unsigned()) {
        const auto v = j.get<uint64_t>();
        if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
        return static_cast<int64_t>(v);
    }
    if (j.is_number_integer()) {
        const auto v = j.get<int64_t>();
        if (v < 0) return std::nullopt;
        return v;
    }
    return std::nullopt;
}

Expected<SafetensorsTensor> parseEntry(const std::string& name, const std::string& key, const nlohmann::json& e,
                                       const uint8_t* data, uint64_t data_bytes) {
    const std::string what = "tensor '" + key + "'";
    if (!e.is_object()) return corrupt(name, what + " is not a JSON object");
    const auto dt = e.find("dtype");
    const auto sh = e.find("shape");
    const auto off = e.find("data_offsets");
    if (dt == e.end() || sh == e.end() || off == e.end())
        return corrupt(name, what + " lacks " +
                                 std::string(dt == e.end()   ? "dtype"
                                             : sh == e.end() ? "shape"
                                                             : "data_offsets"));
    if (!dt->is_string()) return corrupt(name, what + " dtype is not a string");
    SafetensorsTensor t;
    t.name = key;
    t.dtype = dt->get<std::string>();
    const int64_t elem_bytes = safetensorsDtypeBytes(t.dtype);
    if (elem_bytes == 0) return corrupt(name, what + " has unknown dtype '" + t.dtype + "'");
    if (!sh->is_array()) return corrupt(name, what + " shape is not an array");
    int64_t numel = 1;
    for (const auto& d : *sh) {
        const auto v = nonNegative(d);
        if (!v) return corrupt(name, what + " shape " + sh->dump() + " has a negative or non-integer dimension");
        if (__builtin_mul_overflow(numel, *v, &numel))
            return corrupt(name, what + " shape " + sh->dump() + " overflows 64 bits");
        t.shape.push_back(*v);
    }
    const auto bytes = checkedProduct({numel, elem_bytes});
    if (!bytes) return corrupt(name, what + " shape " + sh->dump() + " overflows 64 bits in bytes");
    if (!off->is_array() || off->size() != 2) return corrupt(name, what + " data_offsets is not a [begin, end] pair");
    const auto begin = nonNegative((*off)[0]);
    const auto end = nonNegative((*off)[1]);
    if (!begin || !end || *end < *begin)
        return corrupt(name, what + " data_offsets " + off->dump() + " are not 0 <= begin <= end");
    if (*end - *begin != *bytes)
        return corrupt(name, what + " data_offsets " + range(*begin, *end) + " hold " + std::to_string(*end - *begin) +
                                 " bytes but dtype " + t.dtype + " x shape " + sh->dump() + " needs " +
                                 std::to_string(*bytes));
    if (static_cast<uint64_t>(*end) > data_bytes)
        return corrupt(name, what + " data_offsets " + range(*begin, *end) + " lie outside the data section (" +
                                 std::to_string(data_bytes) + " bytes)");
    t.data = data + *begin;
    t.bytes = *bytes;
    return t;
}

Expected<SafetensorsFile> parse(const uint8_t* bytes, std::size_t size, const std::string& name) {
    if (size < 8)
        return corrupt(name, "file is too short (" + std::to_string(size) +
                                 " bytes) to hold the 8-byte safetensors header length");
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes, 8);
    if (header_len > kMaxHeaderBytes)
        return corrupt(name, "header length " + std::to_string(header_len) + " is above the 100 MB limit");
    if (header_len > size - 8)
        return corrupt(name, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                                 std::to_string(size) + " bytes): the header is cut");
    const auto* hb = reinterpret_cast<const char*>(bytes + 8);

    // nlohmann keeps the last of duplicate keys silently; the callback sees every top-level key first.
    std::set<std::string> seen;
    std::string duplicate;
    auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
        if (depth == 1 && ev == nlohmann::json::parse_event_t::key && duplicate.empty() && parsed.is_string()) {
            auto k = parsed.get<std::string>();
            if (!seen.insert(k).second) duplicate = std::move(k);
        }
        return true;
    };
    nlohmann::json h;
    try {
        h = nlohmann::json::parse(hb, hb + header_len, cb);
    } catch (const nlohmann::json::exception& e) {
        return corrupt(name, std::string("header is not valid JSON (") + e.what() + ")");
    }
    if (!h.is_object()) return corrupt(name, "header is not a JSON object");
    if (!duplicate.empty()) return corrupt(name, "header names '" + duplicate + "' twice");

    SafetensorsFile f;
    f.path = name;
    const uint8_t* data = bytes + 8 + header_len;
    const uint64_t data_bytes = size - 8 - header_len;
    for (const auto& [key, e] : h.items()) {
        if (key == "__metadata__") {
            if (!e.is_object()) return corrupt(name, "__metadata__ is not a JSON object");
            for (const auto& [mk, mv] : e.items()) {
                if (!mv.is_string()) return corrupt(name, "__metadata__ value of '" + mk + "' is not a string");
                f.metadata[mk] = mv.get<std::string>();
            }
            continue;
        }
        auto t = parseEntry(name, key, e, data, data_bytes);
        if (!t) return t.error();
        f.tensors.push_back(std::move(t).value());
    }

    auto begin = [data](const SafetensorsTensor& t) { return static_cast<uint64_t>(t.data - data); };
    std::stable_sort(f.tensors.begin(), f.tensors.end(), [&](const auto& a, const auto& b) {
        return begin(a) != begin(b) ? begin(a) < begin(b) : a.bytes < b.bytes;
    });
    // Empty tensors occupy nothing, so they cannot overlap; the furthest end so far catches nested ranges.
    const SafetensorsTensor* furthest = nullptr;
    for (const auto& t : f.tensors) {
        if (t.bytes == 0) continue;
        if (furthest && begin(t) < begin(*furthest) + furthest->bytes)
            return corrupt(name, "tensors '" + furthest->name + "' " +
                                     range(begin(*furthest), begin(*furthest) + furthest->bytes) + " and '" + t.name +
                                     "' " + range(begin(t), begin(t) + t.bytes) + " overlap");
        if (!furthest || begin(t) + t.bytes > begin(*furthest) + furthest->bytes) furthest = &t;
    }
    return f;
}

Error ioError(const std::string& path, const std::string& what, int err) {
    return makeError(ErrorCode::IoError, path + ": " + what + " (" + std::strerror(err) + ")");
}

bool writeAll(int fd, const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t w = ::write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        c += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

Status writeFile(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                 const std::map<std::string, std::string>& metadata) {
    auto invalid = [&](const std::string& msg) { return makeError(ErrorCode::InvalidArgument, path + ": " + msg); };
    // Insertion order kept, so the header lists tensors in data order as the reference writer does.
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        auto& m = h["__metadata__"] = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) m[k] = v;
    }
    std::set<std::string> names;
    int64_t offset = 0;
    for (const auto& t : tensors) {
        const std::string what = "tensor '" + t.name + "'";
        if (t.name.empty() || t.name == "__metadata__") return invalid("invalid tensor name '" + t.name + "'");
        if (!names.insert(t.name).second) return invalid(what + " is given twice");
        const int64_t elem = safetensorsDtypeBytes(t.dtype);
        if (elem == 0) return invalid(what + " has unknown dtype '" + t.dtype + "'");
        int64_t numel = 1;
        for (int64_t d : t.shape)
            if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) return invalid(what + " has an invalid shape");
        const auto bytes = checkedProduct({numel, elem});
        if (!bytes || *bytes != t.bytes)
            return invalid(what + " has " + std::to_string(t.bytes) + " bytes but dtype x shape needs " +
                           (bytes ? std::to_string(*bytes) : std::string("more than 2^63")));
        if (t.bytes > 0 && !t.data) return invalid(what + " has no data");
        int64_t end = 0;
        if (__builtin_add_overflow(offset, t.bytes, &end)) return invalid("total size overflows 64 bits");
        h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
        offset = end;
    }
    std::string text;
    try {
        text = h.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
    } catch (const nlohmann::json::exception& e) {
        return invalid(std::string("cannot encode the header (") + e.what() + ")");
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // data then starts 8-byte aligned
    const uint64_t header_len = text.size();

    // A temporary file in the same directory, renamed over the target: readers never see half a file.
    std::string tmp = path + ".tmp.XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) return ioError(path, "cannot create a temporary file beside it", errno);
    auto fail = [&](const std::string& what) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return ioError(path, what, err);
    };
    if (!writeAll(fd, &header_len, 8) || !writeAll(fd, text.data(), text.size())) return fail("cannot write");
    for (const auto& t : tensors)
        if (t.bytes > 0 && !writeAll(fd, t.data, static_cast<std::size_t>(t.bytes))) return fail("cannot write");
    if (::fchmod(fd, 0644) != 0) return fail("cannot set permissions");
    if (::fsync(fd) != 0) return fail("cannot flush");
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return ioError(path, "cannot close", err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return ioError(path, "cannot rename the temporary file into place", err);
    }
    return Status::ok();
}

}  // namespace

int64_t SafetensorsTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;  // checked when the file was read
    return n;
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
    for (const auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

int64_t safetensorsDtypeBytes(const std::string& dtype) {
    static const std::pair<const char*, int64_t> kDtypes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},     {"I32", 4},
        {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (const auto& [n, b] : kDtypes)
        if (dtype == n) return b;
    return 0;
}

Expected<SafetensorsFile> parseSafetensors(const uint8_t* bytes, std::size_t size, const std::string& name) {
    if (!bytes) size = 0;
    try {
        return parse(bytes, size, name);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, name + ": out of memory while reading the safetensors header");
    } catch (const nlohmann::json::exception& e) {
        return corrupt(name, std::string("malformed header (") + e.what() + ")");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, name + ": " + e.what());
    }
}

Expected<SafetensorsFile> readSafetensors(const std::string& path) {
    auto m = MappedFile::open(path);
    if (!m) return m.error();
    auto f = parseSafetensors((*m)->data(), (*m)->size(), path);
    if (!f) return f.error();
    f->mapping = *m;
    return f;
}

Status writeSafetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
    try {
        return writeFile(path, tensors, metadata);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, path + ": out of memory while writing");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, path + ": " + e.what());
    }
}

}  // namespace gqa
