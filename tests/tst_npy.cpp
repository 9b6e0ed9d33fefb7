// .npy round trips and the refusal of malformed files.
#include <QtTest>
#include <fstream>

#include "gqa/npy.h"
#include "test_util.h"

using namespace gqa;

namespace {
std::vector<uint8_t> header(const std::string& dict, int version = 1) {
    std::string h = dict;
    const size_t pre = version == 1 ? 10 : 12;
    h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(version), 0};
    if (version == 1) {
        b.push_back(uint8_t(h.size() & 0xff));
        b.push_back(uint8_t(h.size() >> 8));
    } else {
        for (int i = 0; i < 4; ++i) b.push_back(uint8_t((h.size() >> (8 * i)) & 0xff));
    }
    b.insert(b.end(), h.begin(), h.end());
    return b;
}
std::vector<uint8_t> withData(std::vector<uint8_t> b, size_t bytes) {
    b.resize(b.size() + bytes, 0);
    return b;
}
}  // namespace

class TestNpy : public QObject {
    Q_OBJECT
private slots:
    void roundTrip() {
        QTemporaryDir dir;
        const auto data = test::randomVector(2 * 3 * 4 * 5, 1);
        const std::string path = (dir.path() + "/a.npy").toStdString();
        QVERIFY(writeNpy(path, {2, 3, 4, 5}, data.data()).isOk());
        auto a = readNpy(path);
        QVERIFY(a.isOk());
        QCOMPARE(a->shape, (std::vector<int64_t>{2, 3, 4, 5}));
        QCOMPARE(a->dtype, DType::F32);
        QCOMPARE(a->data, data);
        // float16 keeps what fp16 can hold.
        const std::string p16 = (dir.path() + "/h.npy").toStdString();
        QVERIFY(writeNpy(p16, {120}, data.data(), DType::F16).isOk());
        auto h = readNpy(p16);
        QVERIFY(h.isOk());
        QCOMPARE(h->dtype, DType::F16);
        for (size_t i = 0; i < h->data.size(); ++i) QCOMPARE(h->data[i], roundTo(DType::F16, data[i]));
        // 1-D shapes are written with the trailing comma NumPy needs.
        std::ifstream f(p16, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(f)), {});
        QVERIFY(text.find("(120,)") != std::string::npos);
    }

    void parsesWhatNumpyWrites() {
        // As numpy.save writes it (version 1.0, 64-byte alignment), and version 2.0.
        auto a = parseNpy(withData(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), 24));
        QVERIFY(a.isOk());
        QCOMPARE(a->numel(), int64_t(6));
        auto b = parseNpy(withData(header("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", 2), 8));
        QVERIFY(b.isOk());
        auto s = parseNpy(withData(header("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"), 4));
        QVERIFY(s.isOk());
        QCOMPARE(s->numel(), int64_t(1));
    }

    void rejectsCorruptFiles_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("message");
        auto ba = [](const std::vector<uint8_t>& v) {
            return QByteArray(reinterpret_cast<const char*>(v.data()), int(v.size()));
        };
        const auto good = header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
        QTest::newRow("empty") << QByteArray() << "bad magic";
        QTest::newRow("not npy") << QByteArray("PK\x03\x04 this is a zip file") << "bad magic";
        QTest::newRow("truncated header") << ba(good).left(30) << "truncated header";
        QTest::newRow("truncated data") << ba(withData(good, 20)) << "truncated data";
        QTest::newRow("trailing bytes") << ba(withData(good, 28)) << "after the data";
        QTest::newRow("fortran order") << ba(withData(
                                              header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"), 24))
                                       << "Fortran";
        QTest::newRow("float64") << ba(withData(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"),
                                                48))
                                 << "unsupported dtype";
        QTest::newRow("big endian") << ba(withData(
                                           header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }"), 24))
                                    << "big-endian";
        QTest::newRow("int32") << ba(withData(header("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }"),
                                              24))
                               << "unsupported dtype";
        QTest::newRow("bad shape") << ba(withData(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"),
                                                  24))
                                   << "malformed shape";
        QTest::newRow("missing key") << ba(withData(header("{'descr': '<f4', 'shape': (2, 3), }"), 24))
                                     << "malformed header";
        QTest::newRow("huge shape")
            << ba(withData(header("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999999999), }"),
                           24))
            << "too large";
        auto v9 = good;
        v9[6] = 9;
        QTest::newRow("version 9") << ba(withData(v9, 24)) << "unsupported .npy format version";
    }
    void rejectsCorruptFiles() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, message);
        std::vector<uint8_t> v(bytes.begin(), bytes.end());
        auto r = parseNpy(v, "x.npy");
        QVERIFY(!r.isOk());
        QCOMPARE(r.error().code, ErrorCode::Corrupt);
        QVERIFY2(QString::fromStdString(r.error().message).contains(message), r.error().message.c_str());
    }

    void missingFileIsAnIoError() {
        auto r = readNpy("/nonexistent/dir/q.npy");
        QVERIFY(!r.isOk());
        QCOMPARE(r.error().code, ErrorCode::IoError);
    }
};

QTEST_GUILESS_MAIN(TestNpy)
#include "tst_npy.moc"
