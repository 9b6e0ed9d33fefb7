// The controls: preset, heads, groups, depth, storage types, shape, backend. Only valid choices are offered,
// so config() is always consistent (KV heads are divisors of query heads, prompt + decode <= max_seq).
#pragma once

#include <QWidget>

#include "engine_types.h"

class QComboBox;
class QSpinBox;
class QLabel;

namespace gqa::ui {

class ControlPanel : public QWidget {
    Q_OBJECT
public:
    explicit ControlPanel(QWidget* parent = nullptr);

    QString presetName() const;
    ModelConfig config() const;
    RunShape shape() const;
    QString backend() const;
    int64_t runLayers() const;  // 0 = as many as fit
    // True while the depth is the one the app chose for this model (not edited by the user).
    bool runLayersIsDefault() const { return m_runLayersDefault; }

    // Loads a preset's shape into the controls (emits changed()).
    bool loadPreset(const QString& name);
    // Restores a full state (a session); returns false and changes nothing when it is not consistent.
    bool setState(const QString& preset, const ModelConfig& cfg, const RunShape& shape, const QString& backend,
                  int64_t run_layers, QString* error);
    void setBackends(const QVector<BackendChoice>& backends);
    // A loaded checkpoint: query heads, layers, head_dim and storage are fixed by it (the controls say why);
    // KV heads offer the divisors of its own count (a live conversion); "Layers to run" runs the first N.
    // A preset chosen afterwards leaves this mode.
    void setRealModel(const ModelConfig& cfg, const QString& label);
    bool isRealModel() const { return m_real; }
    // The prompt of a real model sets the sequence length (its token count).
    void setPromptTokens(int64_t count);

    // Sets the KV-head count if it is one of the offered divisors; returns false otherwise.
    bool setKvHeads(int64_t n_kv);
    bool setQueryHeads(int64_t n_q);
    void setPromptLength(int64_t tokens);
    void setDecodeSteps(int64_t steps);

    QComboBox* presetCombo() const { return m_preset; }
    QSpinBox* queryHeadsSpin() const { return m_qHeads; }
    QComboBox* kvHeadsCombo() const { return m_kvHeads; }
    QSpinBox* layersSpin() const { return m_layers; }
    QComboBox* headDimCombo() const { return m_headDim; }
    QSpinBox* seqSpin() const { return m_seq; }
    QSpinBox* batchSpin() const { return m_batch; }
    QSpinBox* decodeSpin() const { return m_decode; }
    QComboBox* storageCombo() const { return m_storage; }  // weights + KV cache
    QComboBox* backendCombo() const { return m_backend; }
    QSpinBox* runLayersSpin() const { return m_runLayers; }
    QSpinBox* contextSpin() const { return m_context; }
    QSpinBox* windowSpin() const { return m_window; }  // sliding window (0 = none)
    QLabel* windowLabel() const { return m_windowNote; }
    QLabel* seqLimitLabel() const { return m_seqLimit; }
    QLabel* kindLabel() const { return m_kind; }
    QVector<int64_t> offeredKvHeads() const;

signals:
    void changed();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void onPresetChosen(int index);
    void onQueryHeadsChanged();
    void onHeadDimChanged();
    void repopulateKvHeads(int64_t keep);
    void repopulateHeadDims(int64_t keep);
    void updateLimits();
    void updateKind();
    void updateWindowNote();
    bool hasLayerPattern() const;  // the model's config slides some layers and not others
    void emitChanged();
    void setRealControlsEnabled(bool real);
    bool m_applyingRealModel = false;  // setRealModel's own setState keeps checkpoint mode

    ModelConfig m_base;                 // preset fields without a control (d_model, ffn_dim, vocab, max_seq, ...)
    bool m_dModelFollowsHeads = false;  // preset has d_model == n_q * head_dim: keep it so
    bool m_updating = false;
    bool m_runLayersDefault = true;
    bool m_real = false;
    QLabel* m_modelLabel = nullptr;

    QComboBox* m_preset = nullptr;
    QSpinBox* m_qHeads = nullptr;
    QComboBox* m_kvHeads = nullptr;
    QLabel* m_kind = nullptr;
    QSpinBox* m_layers = nullptr;
    QComboBox* m_headDim = nullptr;
    QLabel* m_derived = nullptr;
    QSpinBox* m_context = nullptr;
    QSpinBox* m_window = nullptr;
    QLabel* m_windowNote = nullptr;
    QSpinBox* m_seq = nullptr;
    QLabel* m_seqLimit = nullptr;
    QSpinBox* m_batch = nullptr;
    QSpinBox* m_decode = nullptr;
    QComboBox* m_storage = nullptr;
    QComboBox* m_backend = nullptr;
    QSpinBox* m_runLayers = nullptr;
};

}  // namespace gqa::ui
