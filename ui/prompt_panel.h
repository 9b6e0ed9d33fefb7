// The prompt of a real model: editable text, its tokens as chips (piece and id), a generate button, the
// generated text, the next-token top-k with probabilities and the prompt's perplexity.
#pragma once

#include <QWidget>

#include <memory>
#include <vector>

#include "engine_types.h"

class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace gqa {
class Tokenizer;
}

namespace gqa::ui {

inline constexpr const char* kDefaultPrompt = "Once upon a time, there was a little girl named Lily.";

class PromptPanel : public QWidget {
    Q_OBJECT
public:
    explicit PromptPanel(QWidget* parent = nullptr);

    // The loaded model's tokenizer; null for synthetic models (the panel then says prompts need a checkpoint).
    void setTokenizer(std::shared_ptr<const Tokenizer> tokenizer);
    bool hasTokenizer() const { return m_tokenizer != nullptr; }
    QString prompt() const;
    void setPrompt(const QString& text);
    const std::vector<int32_t>& tokens() const { return m_tokens; }
    int generateCount() const;
    // How Generate picks each new token: temperature 0 = greedy; otherwise seeded top-k / top-p sampling.
    SamplingOptions sampling() const;
    void setSampling(const SamplingOptions& o);

    // Generated text and the next-token distribution of a finished run (sequence 0).
    void setResult(const RunResultPtr& result);
    void setPerplexity(double perplexity);
    // Text as the run produces it: the token sequence 0 feeds to decode step `step` (0 restarts the text).
    void appendGeneratedToken(qint64 step, int32_t token);
    const std::vector<int32_t>& streamedTokens() const { return m_streamed; }
    // Display strings of the prompt's tokens, then of the generated ones.
    QStringList pieces(const RunResult* result) const;
    // (id, probability) of the k most likely next tokens after the run's final step.
    static std::vector<std::pair<int32_t, double>> topNext(const RunResult& r, int64_t k);
    // The top-k table shows the distribution after the prompt (step 0) or after decode step s; clamped.
    void showStep(int step);
    int shownStep() const;

    QPlainTextEdit* editor() const { return m_editor; }
    QLabel* chips() const { return m_chips; }
    QPushButton* generateButton() const { return m_generate; }
    QSpinBox* generateSpin() const { return m_count; }
    QTableWidget* topKTable() const { return m_topK; }
    QLabel* generatedLabel() const { return m_generated; }
    QLabel* perplexityLabel() const { return m_perplexity; }
    QDoubleSpinBox* temperatureSpin() const { return m_temperature; }
    QSpinBox* topKSpin() const { return m_samplingTopK; }
    QDoubleSpinBox* topPSpin() const { return m_topP; }
    QSpinBox* seedSpin() const { return m_seed; }
    QSpinBox* stepSpin() const { return m_step; }

signals:
    void promptEdited();  // the tokens changed (the window debounces)
    void generateRequested(int count);

private:
    void retokenize();
    void fillTopK();

    std::shared_ptr<const Tokenizer> m_tokenizer;
    std::vector<int32_t> m_tokens;
    QPlainTextEdit* m_editor = nullptr;
    QLabel* m_chips = nullptr;
    QSpinBox* m_count = nullptr;
    QPushButton* m_generate = nullptr;
    QLabel* m_generated = nullptr;
    QLabel* m_perplexity = nullptr;
    QTableWidget* m_topK = nullptr;
    QDoubleSpinBox* m_temperature = nullptr;
    QSpinBox* m_samplingTopK = nullptr;
    QDoubleSpinBox* m_topP = nullptr;
    QSpinBox* m_seed = nullptr;
    QSpinBox* m_step = nullptr;
    RunResultPtr m_result;
    std::vector<int32_t> m_streamed;  // the tokens of the run in progress, as they arrive
};

}  // namespace gqa::ui
