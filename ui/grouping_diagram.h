// Query heads, KV heads and the links between them, painted live from the current configuration.
#pragma once

#include <QWidget>

#include "gqa/config.h"

namespace gqa::ui {

class GroupingDiagram : public QWidget {
    Q_OBJECT
public:
    explicit GroupingDiagram(QWidget* parent = nullptr);

    void setConfig(const ModelConfig& cfg);
    const ModelConfig& config() const { return m_config; }

    int64_t queryHeads() const { return m_config.n_q_heads; }
    int64_t kvHeads() const { return m_config.n_kv_heads; }
    int64_t linkCount() const { return m_config.n_q_heads; }  // one link per query head
    QString summaryText() const;  // the group-size and K/V-parameter lines shown under the diagram
    int repaintCount() const { return m_paints; }
    // PNG (a grab), PDF (vector, via QPdfWriter) or CSV (q_head,kv_head,group_size), by the file's suffix.
    bool exportTo(const QString& path, QString* error) const;

    QSize sizeHint() const override { return {900, 520}; }
    QSize minimumSizeHint() const override { return {360, 420}; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    ModelConfig m_config;
    int m_paints = 0;
};

}  // namespace gqa::ui
