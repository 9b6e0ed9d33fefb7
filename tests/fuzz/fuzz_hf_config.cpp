// config.json text -> configFromHfJson (validate()d on success).
#include "fuzz_util.h"
#include "gqa/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    auto cfg = gqa::configFromHfJson(gqa::fuzz::asString(data, size), "fuzz/config.json");
    gqa::fuzz::use(cfg);
    return 0;
}
