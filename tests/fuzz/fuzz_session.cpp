// Session file bytes -> gqa::ui::sessionFromJson (ui/session.cpp + snapshot.cpp; Qt Core only, no widgets).
#include <QByteArray>
#include <QString>

#include "fuzz_util.h"
#include "session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const QByteArray json(reinterpret_cast<const char*>(data), static_cast<qsizetype>(size));
    QString error;
    auto s = gqa::ui::sessionFromJson(json, &error);
    if (s) {
        // What loads must save and load again.
        QString again;
        if (!gqa::ui::sessionFromJson(gqa::ui::sessionToJson(*s), &again)) __builtin_trap();
    }
    return 0;
}
