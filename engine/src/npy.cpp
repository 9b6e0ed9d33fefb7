// .npy reader/writer. The header is a Python dict literal; we parse exactly the three keys NumPy writes.
#include "gqa/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "checked_math.h"

namespace gqa {

int64_t NpyArray::numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
}

namespace {

Error corrupt(const std::string& what, const std::string& msg) {
    return makeError(ErrorCode::Corrupt, what + ": " + msg);
}

// Value of `key` in the header dict, as raw text up to the matching delimiter.
bool findValue(const std::string& h, const std::string& key, std::string& value) {
    const auto k = h.find("'" + key + "'");
    if (k == std::string::npos) return false;
    auto c = h.find(':', k);
    if (c == std::string::npos) return false;
    ++c;
    while (c < h.size() && h[c] == ' ') ++c;
    if (c >= h.size()) return false;
    if (h[c] == '\'') {
        const auto e = h.find('\'', c + 1);
        if (e == std::string::npos) return false;
        value = h.substr(c + 1, e - c - 1);
    } else if (h[c] == '(') {
        const auto e = h.find(')', c);
        if (e == std::string::npos) return false;
        value = h.substr(c + 1, e - c - 1);
    } else {
        auto e = h.find_first_of(",}", c);
        if (e == std::string::npos) return false;
        value = h.substr(c, e - c);
        while (!value.empty() && value.back() == ' ') value.pop_back();
    }
    return true;
}

}  // namespace

Expected<NpyArray> parseNpy(const std::vector<uint8_t>& bytes, const std::string& what) {
    static const uint8_t magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
        return corrupt(what, "not a .npy file (bad magic)");
    const int major = bytes[6];
    size_t header_len = 0, header_start = 0;
    if (major == 1) {
        header_len = bytes[8] | (static_cast<size_t>(bytes[9]) << 8);
        header_start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) return corrupt(what, "truncated header");
        header_len = bytes[8] | (static_cast<size_t>(bytes[9]) << 8) | (static_cast<size_t>(bytes[10]) << 16) |
                     (static_cast<size_t>(bytes[11]) << 24);
        header_start = 12;
    } else {
        return corrupt(what, "unsupported .npy format version " + std::to_string(major));
    }
    if (header_start + header_len > bytes.size()) return corrupt(what, "truncated header");
    const std::string h(reinterpret_cast<const char*>(bytes.data() + header_start), header_len);
    std::string descr, order, shape_s;
    if (!findValue(h, "descr", descr) || !findValue(h, "fortran_order", order) || !findValue(h, "shape", shape_s))
        return corrupt(what, "malformed header (needs descr, fortran_order and shape)");
    if (order != "False") {
        if (order == "True") return corrupt(what, "Fortran-order arrays are not supported; save with C order");
        return corrupt(what, "malformed fortran_order '" + order + "'");
    }
    NpyArray a;
    size_t elem = 0;
    if (descr == "<f4" || descr == "=f4" || descr == "f4") {
        a.dtype = DType::F32;
        elem = 4;
    } else if (descr == "<f2" || descr == "=f2" || descr == "f2") {
        a.dtype = DType::F16;
        elem = 2;
    } else if (descr == ">f4" || descr == ">f2") {
        return corrupt(what, "big-endian data ('" + descr + "') is not supported");
    } else {
        return corrupt(what, "unsupported dtype '" + descr + "' (need float32 or float16)");
    }
    // Shape: comma-separated non-negative integers, possibly with a trailing comma.
    std::string tok;
    std::stringstream ss(shape_s);
    int64_t numel = 1;
    while (std::getline(ss, tok, ',')) {
        tok.erase(0, tok.find_first_not_of(" \t"));
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == 'L')) tok.pop_back();
        if (tok.empty()) continue;
        if (tok.find_first_not_of("0123456789") != std::string::npos || tok.size() > 15)
            return corrupt(what, "malformed shape (" + shape_s + ")");
        const int64_t dim = std::stoll(tok);
        a.shape.push_back(dim);
        auto p = checkedProduct({numel, dim});
        if (!p) return corrupt(what, "shape (" + shape_s + ") is too large");
        numel = *p;
    }
    const size_t data_start = header_start + header_len;
    auto need = checkedProduct({numel, static_cast<int64_t>(elem)});
    if (!need) return corrupt(what, "shape (" + shape_s + ") is too large");
    const size_t have = bytes.size() - data_start;
    if (have < static_cast<size_t>(*need))
        return corrupt(what, "truncated data: shape (" + shape_s + ") needs " + std::to_string(*need) +
                                 " bytes, file has " + std::to_string(have));
    if (have > static_cast<size_t>(*need))
        return corrupt(what, "file has " + std::to_string(have - static_cast<size_t>(*need)) +
                                 " bytes after the data the shape describes");
    a.data.resize(static_cast<size_t>(numel));
    const uint8_t* src = bytes.data() + data_start;
    if (a.dtype == DType::F32) {
        if (numel > 0) std::memcpy(a.data.data(), src, static_cast<size_t>(numel) * 4);  // data() is null when empty
    } else {
        for (int64_t i = 0; i < numel; ++i) {
            uint16_t hbits;
            std::memcpy(&hbits, src + 2 * i, 2);
            a.data[static_cast<size_t>(i)] = f16ToFloat(hbits);
        }
    }
    return a;
}

Expected<NpyArray> readNpy(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return makeError(ErrorCode::IoError, path + ": cannot open for reading");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return parseNpy(bytes, path);
}

Status writeNpy(const std::string& path, const std::vector<int64_t>& shape, const float* data, DType dtype) {
    if (dtype == DType::BF16) return makeError(ErrorCode::InvalidArgument, ".npy has no bfloat16 type");
    std::string shape_s = "(";
    int64_t numel = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        shape_s += std::to_string(shape[i]);
        shape_s += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
        if (i + 1 < shape.size()) shape_s += " ";
        numel *= shape[i];
    }
    shape_s += ")";
    std::string header = std::string("{'descr': '") + (dtype == DType::F32 ? "<f4" : "<f2") +
                         "', 'fortran_order': False, 'shape': " + shape_s + ", }";
    // Pad so that the data starts on a 64-byte boundary; the header ends with '\n'.
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) return makeError(ErrorCode::IoError, path + ": cannot open for writing");
        const uint8_t pre[] = {0x93,
                               'N',
                               'U',
                               'M',
                               'P',
                               'Y',
                               1,
                               0,
                               static_cast<uint8_t>(header.size() & 0xff),
                               static_cast<uint8_t>(header.size() >> 8)};
        f.write(reinterpret_cast<const char*>(pre), sizeof pre);
        f.write(header.data(), static_cast<std::streamsize>(header.size()));
        if (dtype == DType::F32) {
            f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(numel * 4));
        } else {
            std::vector<uint16_t> h(static_cast<size_t>(numel));
            storeAs(DType::F16, data, h.data(), numel);
            f.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(numel * 2));
        }
        if (!f) return makeError(ErrorCode::IoError, path + ": write failed");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return makeError(ErrorCode::IoError, path + ": cannot rename the temporary file into place");
    }
    return Status::ok();
}

}  // namespace gqa
