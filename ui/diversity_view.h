// How alike the query heads attend, inside and between KV groups: the Jensen–Shannon divergence (bits) of
// every pair of query heads of one layer (GroupDiversity::js_bits, heads ordered by KV group, group boundaries
// drawn) as two colour maps on one colour scale — the original model and its conversion to fewer KV heads —
// and each layer's mean divergence within groups against between groups, as numbers and over the layers.
// A plain view: it draws two gqa::ModelAnalysis (engine/include/gqa/analysis.h) computed elsewhere.
#pragma once

#include <QList>
#include <QString>
#include <QWidget>

#include <optional>

#include "gqa/analysis.h"

class QComboBox;
class QCPColorMap;
class QCPColorScale;
class QCustomPlot;
class QLabel;
class QMouseEvent;

namespace gqa::ui {

class DiversityView : public QWidget {
    Q_OBJECT
public:
    explicit DiversityView(QWidget* parent = nullptr);

    // `converted` is `original` converted to fewer KV heads (convertKvHeads) by `method` ("meanpool", "first"),
    // analysed on the same prompt. The layer selector lists the original's analysed layers; the shown layer is
    // kept when present.
    void setAnalyses(const ModelAnalysis& original, const ModelAnalysis& converted, const QString& method);
    // Empties both maps and the means and says why (e.g. "Computing…", or an engine error).
    void clear(const QString& reason);

    int currentLayer() const;         // the model layer shown; -1 when nothing is
    void setCurrentLayer(int layer);  // one of the analysed layers; otherwise ignored

    // For tests, export and the main window.
    QComboBox* layerSelector() const { return m_layer; }
    QCustomPlot* matrixPlot() const { return m_matrixPlot; }
    QCustomPlot* meansPlot() const { return m_meansPlot; }
    QList<QCustomPlot*> plots() const { return {m_matrixPlot, m_meansPlot}; }
    QCPColorMap* originalMap() const { return m_maps[0]; }   // null when nothing is shown
    QCPColorMap* convertedMap() const { return m_maps[1]; }  // null when the converted layer is missing
    QCPColorScale* colorScale() const { return m_scale; }
    QString meansText() const;  // the shown layer's within / between means ("—" where a mean does not exist)
    QString infoText() const;
    QString hoverText() const;

private:
    void rebuild();
    void rebuildMeans();
    void onMouseMove(QMouseEvent* event);

    QComboBox* m_layer = nullptr;
    QLabel* m_info = nullptr;
    QCustomPlot* m_matrixPlot = nullptr;
    QCustomPlot* m_meansPlot = nullptr;
    QLabel* m_means = nullptr;
    QLabel* m_hover = nullptr;
    QCPColorMap* m_maps[2] = {nullptr, nullptr};
    QCPColorScale* m_scale = nullptr;
    ModelAnalysis m_models[2];  // original, converted
    QString m_method;
    bool m_have = false;
};

}  // namespace gqa::ui
