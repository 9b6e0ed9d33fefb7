// Read-only whole-file mappings: the checkpoint readers validate and read tensors in place.
#include "gqa/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <new>

namespace gqa {

namespace {

Error ioError(const std::string& path, const std::string& what, int err) {
    return makeError(ErrorCode::IoError, path + ": " + what + " (" + std::strerror(err) + ")");
}

// Closes the descriptor on every path out of open(); the mapping outlives it.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

Expected<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) return makeError(ErrorCode::IoError, path + ": no such file");
        return ioError(path, "cannot open", err);
    }
    FdGuard guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return ioError(path, "cannot stat", errno);
    if (S_ISDIR(st.st_mode)) return makeError(ErrorCode::IoError, path + ": is a directory, not a file");
    if (!S_ISREG(st.st_mode)) return makeError(ErrorCode::IoError, path + ": not a regular file");
    if (st.st_size < 0) return makeError(ErrorCode::IoError, path + ": negative file size");

    std::shared_ptr<MappedFile> f;
    try {
        f.reset(new MappedFile());
        f->m_path = path;
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, path + ": out of memory");
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size == 0) return std::shared_ptr<const MappedFile>(std::move(f));  // mmap refuses length 0

    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return ioError(path, "cannot map " + std::to_string(size) + " bytes", errno);
    f->m_data = static_cast<const uint8_t*>(p);
    f->m_size = size;
    return std::shared_ptr<const MappedFile>(std::move(f));
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
}

int64_t fileSizeBytes(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    return static_cast<int64_t>(st.st_size);
}

}  // namespace gqa
