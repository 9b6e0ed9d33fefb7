// LayerMaps -> QCPColorMapData, checked cell by cell against the engine layout written out by hand.
#include <QtTest>

#include <qcustomplot.h>

#include <cmath>

#include "color_map_convert.h"

using namespace gqa;
using namespace gqa::ui;

namespace {

// (B, H, Tq, Tk) with value 1000*b + 100*h + 10*i + j at visible cells, a recognisable pattern.
LayerMaps makeMaps(int64_t B, std::vector<int64_t> heads, int64_t tq, int64_t tk) {
    LayerMaps m;
    m.layer = 3;
    m.heads = std::move(heads);
    m.batch = B;
    m.q_len = tq;
    m.kv_len = tk;
    const int64_t H = static_cast<int64_t>(m.heads.size());
    m.probs.resize(static_cast<size_t>(B * H * tq * tk));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < tq; ++i)
                for (int64_t j = 0; j < tk; ++j)
                    m.probs[static_cast<size_t>(((b * H + h) * tq + i) * tk + j)] =
                        static_cast<float>(1000 * b + 100 * h + 10 * i + j) * 1e-4f;
    return m;
}

float expected(int64_t b, int64_t h, int64_t i, int64_t j) {
    return static_cast<float>(1000 * b + 100 * h + 10 * i + j) * 1e-4f;
}

}  // namespace

class TestColorMapConvert : public QObject {
    Q_OBJECT
private slots:
    void promptMapMatchesLayout_data() {
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("head");
        QTest::addColumn<int>("tq");
        QTest::addColumn<int>("tk");
        QTest::newRow("square b0 h0") << 0 << 0 << 6 << 6;
        QTest::newRow("square b1 h2") << 1 << 2 << 5 << 5;
        QTest::newRow("one query row (decode)") << 1 << 1 << 1 << 7;
        QTest::newRow("chunk: 3 queries over 8 keys") << 0 << 2 << 3 << 8;
    }
    void promptMapMatchesLayout() {
        QFETCH(int, batch);
        QFETCH(int, head);
        QFETCH(int, tq);
        QFETCH(int, tk);
        const LayerMaps m = makeMaps(2, {0, 4, 7}, tq, tk);
        QCPColorMapData data(1, 1, QCPRange(0, 1), QCPRange(0, 1));
        fillPromptMap(m, batch, head, MapScale::Linear, data);
        QCOMPARE(data.keySize(), tk);
        QCOMPARE(data.valueSize(), tq);
        for (int i = 0; i < tq; ++i)
            for (int j = 0; j < tk; ++j) {
                const double z = data.cell(j, i);
                // Bottom-right aligned causal mask: query i sees key j when j <= i + tk - tq.
                if (j <= i + tk - tq)
                    QCOMPARE(static_cast<float>(z), expected(batch, head, i, j));
                else
                    QVERIFY2(std::isnan(z), "masked cells must be NaN (drawn as background)");
                const double w = promptWeight(m, batch, head, i, j);
                QCOMPARE(std::isnan(w), std::isnan(z));
            }
    }

    void logScaleClampsToFloor() {
        LayerMaps m = makeMaps(1, {0}, 2, 2);
        m.probs = {0.0f, 0.0f, 1e-9f, 0.5f};  // (0,1) masked; (1,0) below the floor
        QCPColorMapData data(1, 1, QCPRange(0, 1), QCPRange(0, 1));
        fillPromptMap(m, 0, 0, MapScale::Log, data);
        QCOMPARE(data.cell(0, 0), kLogFloor);
        QVERIFY(std::isnan(data.cell(1, 0)));
        QCOMPARE(data.cell(0, 1), kLogFloor);
        QCOMPARE(data.cell(1, 1), 0.5);
    }

    void decodeViewStacksStepsUnderPrompt() {
        const int64_t T = 4, S = 3;
        const LayerMaps prompt = makeMaps(1, {0, 1}, T, T);
        std::vector<LayerMaps> steps;
        for (int64_t s = 0; s < S; ++s) steps.push_back(makeMaps(1, {0, 1}, 1, T + s + 1));
        std::vector<const LayerMaps*> ptrs;
        for (const auto& s : steps) ptrs.push_back(&s);
        QCPColorMapData data(1, 1, QCPRange(0, 1), QCPRange(0, 1));
        const int64_t step = 1, head = 1;
        fillDecodeMap(&prompt, ptrs, 0, head, step, MapScale::Linear, data);
        QCOMPARE(data.keySize(), int(T + S));
        QCOMPARE(data.valueSize(), int(T + S));
        for (int64_t i = 0; i < T + S; ++i)
            for (int64_t j = 0; j < T + S; ++j) {
                const double z = data.cell(int(j), int(i));
                double want = std::nan("");
                if (i < T && j <= i) want = expected(0, head, i, j);
                if (i >= T && i - T <= step && j <= i) want = expected(0, head, 0, j);  // decode row i-T: one query
                if (std::isnan(want))
                    QVERIFY2(std::isnan(z), qPrintable(QStringLiteral("cell (%1,%2) should be empty").arg(i).arg(j)));
                else
                    QCOMPARE(static_cast<float>(z), static_cast<float>(want));
                const double w = decodeWeight(&prompt, ptrs, 0, head, step, i, j);
                QCOMPARE(std::isnan(w), std::isnan(want));
            }
    }

    void findsLayersAndHeads() {
        std::vector<LayerMaps> maps = {makeMaps(1, {0, 1}, 2, 2), makeMaps(1, {5, 6}, 2, 2)};
        maps[1].layer = 7;
        QCOMPARE(findLayerMaps(maps, 7), &maps[1]);
        QCOMPARE(findLayerMaps(maps, 1), nullptr);
        QCOMPARE(headIndex(maps[1], 6), int64_t{1});
        QCOMPARE(headIndex(maps[1], 0), int64_t{-1});
        QCOMPARE(maxWeight(maps[0], 0, 1), static_cast<double>(expected(0, 1, 1, 1)));
    }
};

QTEST_MAIN(TestColorMapConvert)
#include "tst_color_map_convert.moc"
