#include "gqa/status.h"

namespace gqa {

const char* errorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::InvalidArgument: return "invalid argument";
        case ErrorCode::OutOfMemory: return "out of memory";
        case ErrorCode::Unavailable: return "unavailable";
        case ErrorCode::IoError: return "I/O error";
        case ErrorCode::Corrupt: return "corrupt input";
        case ErrorCode::Cancelled: return "cancelled";
        case ErrorCode::Internal: return "internal error";
    }
    return "error";
}

}  // namespace gqa
