// Attention maps of one layer: a grid of all query heads, each framed in its KV group's colour, or one
// head large with zoom and pan; prompt view or decode-step view; linear or log colour scale.
#pragma once

#include <QWidget>

#include <vector>

#include "color_map_convert.h"
#include "engine_types.h"

class QCustomPlot;
class QCPAxisRect;
class QCPColorMap;
class QCPColorScale;
class QCPTextElement;
class QCPItemRect;
class QCPItemStraightLine;
class QComboBox;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;
class QTableWidget;
class QTimer;

namespace gqa::ui {

class AttentionView : public QWidget {
    Q_OBJECT
public:
    enum class Mode { Grid = 0, SingleHead = 1 };

    explicit AttentionView(QWidget* parent = nullptr);

    void setResult(const RunResultPtr& result);
    // Another model is being computed: the old maps go, the header says what is coming.
    void showComputing(const QString& model_name);
    // Why the run keeps no maps (shown instead of them); empty when it does.
    void setMapsNote(const QString& note) { m_mapsNote = note; }
    // Display strings of the tokens at each position (prompt, then generated); empty = positions only.
    void setTokenPieces(const QStringList& pieces);
    const QStringList& tokenPieces() const { return m_pieces; }
    // Each map scaled to its own largest weight, so long, flat maps still show their pattern.
    bool perHeadContrast() const;
    void setPerHeadContrast(bool on);
    // The data of the shown layer as CSV: layer,head,kv_head,query,key,tokens,weight (unclamped weights).
    QString mapsCsv() const;
    QString infoText() const;
    QString hoverLabelText() const;
    const RunResultPtr& result() const { return m_result; }

    int layer() const;
    Mode mode() const;
    int head() const;
    bool logScale() const;
    bool decodePhase() const;
    int decodeStep() const;
    void setViewState(int layer, Mode mode, int head, bool log_scale, bool decode_phase, int step);

    QCustomPlot* plot() const { return m_plot; }
    QList<QCustomPlot*> plots() const;
    // Heads drawn and the configuration they belong to (for tests and screenshots).
    int shownHeadCount() const { return static_cast<int>(m_cells.size()); }
    int64_t shownKvHeads() const { return m_shownKv; }
    quint64 refreshCount() const { return m_refreshes; }
    QString cellTitle(int index) const;
    QColor cellFrameColor(int index) const;
    // What hovering at a plot pixel shows (query position, key position, weight); empty off the maps.
    QString hoverTextAt(const QPointF& plot_pos) const;
    QPointF cellCenter(int index, int64_t query, int64_t key) const;  // plot pixel of a cell

    // The selected query position (a click on a map selects its row; -1 = the last position shown) and, for
    // it, each shown head's k most attended keys: (key position, weight), descending.
    int64_t selectedQuery() const;
    void selectQuery(int64_t position);
    std::vector<std::pair<int64_t, double>> topKeys(int64_t q_head, int64_t query, int k) const;
    QTableWidget* topKeysTable() const { return m_topKeys; }

    QSlider* stepSlider() const { return m_step; }
    QComboBox* modeCombo() const { return m_mode; }
    QComboBox* scaleCombo() const { return m_scale; }
    QComboBox* phaseCombo() const { return m_phase; }
    QComboBox* contrastCombo() const { return m_contrast; }
    QSpinBox* layerSpin() const { return m_layer; }
    QSpinBox* headSpin() const { return m_head; }

protected:
    void resizeEvent(QResizeEvent* event) override;

signals:
    // The chosen layer's maps are not in the result: the window asks the engine for them.
    void mapsRequested(int layer);
    void viewStateChanged();

private:
    struct Cell {
        int64_t q_head = 0;
        QCPAxisRect* rect = nullptr;
        QCPColorMap* map = nullptr;
        QCPTextElement* title = nullptr;
        QCPItemRect* step_marker = nullptr;
        QCPItemStraightLine* boundary = nullptr;
    };

    void refresh();
    void rebuildLayout(const std::vector<int64_t>& heads, int64_t group_size, bool single);
    void fillCells(const LayerMaps* prompt, const std::vector<const LayerMaps*>& steps, int64_t group_size);
    void updateControls();
    void onMouseMove(QMouseEvent* event);
    void onMousePress(QMouseEvent* event);
    void fillTopKeys();
    int64_t queryCount() const;  // positions that have a row in the shown phase
    void keepSquare();
    const Cell* cellAt(const QPointF& pos) const;
    QString roleOf(int64_t q_head) const;
    QString pieceAt(int64_t pos) const;  // "'cat' (12)" or "12"

    QCustomPlot* m_plot = nullptr;
    QCPColorScale* m_colorScale = nullptr;
    std::vector<Cell> m_cells;
    QString m_layoutKey;
    int64_t m_shownKv = 0;
    quint64 m_refreshes = 0;

    QSpinBox* m_layer = nullptr;
    QComboBox* m_mode = nullptr;
    QSpinBox* m_head = nullptr;
    QComboBox* m_scale = nullptr;
    QComboBox* m_phase = nullptr;
    QComboBox* m_contrast = nullptr;
    QStringList m_pieces;
    QString m_mapsNote;
    QTimer* m_resizeRefresh = nullptr;  // titles and the downsampling note follow the cell size
    QSlider* m_step = nullptr;
    QLabel* m_stepLabel = nullptr;
    QSpinBox* m_sequence = nullptr;
    QPushButton* m_resetZoom = nullptr;
    QLabel* m_hover = nullptr;
    QLabel* m_info = nullptr;
    QSpinBox* m_query = nullptr;
    QTableWidget* m_topKeys = nullptr;

    RunResultPtr m_result;
    int m_requestedLayer = -1;
};

}  // namespace gqa::ui
