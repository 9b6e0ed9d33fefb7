// Per-head attention statistics of one layer as a heat table: one row per query head, ordered and framed by
// KV group (a "KV k" cell spans each group's rows), one column per statistic (entropy, mean distance, sink,
// previous-token, local and long-range mass), and for synthetic structured heads what each was built to do. Each
// column is coloured from its own lowest (dark) to highest
// (bright) value in the layer, with the value printed in the cell. Below: the layer's attention mass beyond
// distance d (LayerAnalysis::mass_beyond, every analysed layer for context) and what each statistic means.
// A plain view: it draws a gqa::ModelAnalysis
// (engine/include/gqa/analysis.h) computed elsewhere and never runs the engine.
#pragma once

#include <QList>
#include <QString>
#include <QWidget>

#include <cstdint>
#include <vector>

#include "gqa/analysis.h"

class QComboBox;
class QCustomPlot;
class QLabel;
class QTableWidget;

namespace gqa::ui {

class HeadStatsView : public QWidget {
    Q_OBJECT
public:
    // The statistic columns, left to right after the "KV group" column.
    enum Stat { Entropy = 0, MeanDistance, SinkMass, PrevTokenMass, LocalMass, LongRangeMass, StatCount };

    explicit HeadStatsView(QWidget* parent = nullptr);

    // Shows `analysis` (its config gives the group size n_q / n_kv; its layers fill the layer selector). The
    // shown layer is kept when the new analysis has it. `options` are the ones the statistics were measured
    // with; they only label the local / long-range columns and their tooltips.
    void setAnalysis(const ModelAnalysis& analysis, const StatsOptions& options = {});
    // Empties the table and says why (e.g. "Computing…", or an engine error).
    void clear(const QString& reason);

    int currentLayer() const;         // the model layer shown; -1 when nothing is
    void setCurrentLayer(int layer);  // one of the analysed layers; otherwise ignored

    // For tests and the main window.
    QTableWidget* table() const { return m_table; }
    QComboBox* layerSelector() const { return m_layer; }
    QCustomPlot* massPlot() const { return m_massPlot; }
    QList<QCustomPlot*> plots() const { return {m_massPlot}; }
    QString infoText() const;
    static int statColumn(Stat s) { return 1 + static_cast<int>(s); }  // the table column of statistic s
    // The last column, "built as": what each synthetic head was built to do (HeadStats::role), shown only when
    // some head of the layer has a role other than Content (structured synthetic weights); -1 when absent.
    int roleColumn() const;
    QString shownRole(int row) const;  // that column's text; empty when it is absent
    static double statValue(const RowStats& r, Stat s);
    std::vector<int64_t> shownHeads() const;   // the query head of each table row, top to bottom
    double shownValue(int row, Stat s) const;  // the statistic as held (not as printed); NaN when absent

signals:
    // A click on a head's row: the main window opens that head's attention map.
    void headActivated(int layer, int head);

private:
    void refresh();
    void refreshMassPlot();
    void activateRow(int row);

    QComboBox* m_layer = nullptr;
    QLabel* m_info = nullptr;
    QTableWidget* m_table = nullptr;
    QCustomPlot* m_massPlot = nullptr;
    QLabel* m_glossary = nullptr;
    ModelAnalysis m_analysis;
    StatsOptions m_options;
    bool m_have = false;
    bool m_hasRoles = false;               // the shown layer has a "built as" column
    std::vector<const HeadStats*> m_rows;  // into m_analysis, one per table row
};

}  // namespace gqa::ui
