#include "prompt_panel.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "gqa/sampling.h"
#include "gqa/tokenizer.h"

namespace gqa::ui {

namespace {
constexpr int kMaxChips = 256;
constexpr int kTopK = 10;
}  // namespace

PromptPanel::PromptPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    m_editor = new QPlainTextEdit(this);
    m_editor->setObjectName(QStringLiteral("promptEditor"));
    m_editor->setPlainText(QString::fromUtf8(kDefaultPrompt));
    m_editor->setMaximumHeight(70);
    m_editor->setToolTip(tr("The prompt the model reads. Its tokens are shown below; the maps are over them."));
    layout->addWidget(m_editor);
    m_chips = new QLabel(this);
    m_chips->setObjectName(QStringLiteral("tokenChips"));
    m_chips->setWordWrap(true);
    m_chips->setTextFormat(Qt::RichText);
    layout->addWidget(m_chips);
    auto* bar = new QHBoxLayout;
    m_count = new QSpinBox(this);
    m_count->setRange(1, 256);
    m_count->setValue(16);
    m_count->setPrefix(tr("generate "));
    m_count->setSuffix(tr(" tokens"));
    m_count->setKeyboardTracking(false);
    bar->addWidget(m_count);
    m_generate = new QPushButton(tr("Generate"), this);
    m_generate->setToolTip(tr("Decode this many new tokens after the prompt (greedy), reading the KV cache."));
    bar->addWidget(m_generate);
    layout->addLayout(bar);
    bar = new QHBoxLayout;
    m_temperature = new QDoubleSpinBox(this);
    m_temperature->setObjectName(QStringLiteral("temperature"));
    m_temperature->setRange(0.0, 5.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setDecimals(2);
    m_temperature->setPrefix(tr("temperature "));
    m_temperature->setSpecialValueText(tr("greedy (temperature 0)"));
    m_temperature->setToolTip(
        tr("0 picks the most likely token every step; above 0 samples from softmax(logits / T)."));
    m_samplingTopK = new QSpinBox(this);
    m_samplingTopK->setRange(0, 100000);
    m_samplingTopK->setPrefix(tr("top-k "));
    m_samplingTopK->setSpecialValueText(tr("top-k off"));
    m_samplingTopK->setToolTip(tr("Sample only among the k most likely tokens (0 = no limit)."));
    m_topP = new QDoubleSpinBox(this);
    m_topP->setRange(0.01, 1.0);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(1.0);
    m_topP->setPrefix(tr("top-p "));
    m_topP->setToolTip(tr("Nucleus sampling: the smallest set of tokens whose probability reaches p."));
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, 1 << 30);
    m_seed->setValue(1234);
    m_seed->setPrefix(tr("seed "));
    m_seed->setToolTip(tr("The same seed and settings generate the same tokens."));
    for (QAbstractSpinBox* b :
         std::initializer_list<QAbstractSpinBox*>{m_temperature, m_samplingTopK, m_topP, m_seed}) {
        b->setKeyboardTracking(false);
        bar->addWidget(b);
    }
    auto enableSampling = [this] {
        const bool sampled = m_temperature->value() > 0.0 && m_tokenizer;
        m_samplingTopK->setEnabled(sampled);
        m_topP->setEnabled(sampled);
        m_seed->setEnabled(sampled);
    };
    connect(m_temperature, &QDoubleSpinBox::valueChanged, this, enableSampling);
    m_perplexity = new QLabel(this);
    m_perplexity->setObjectName(QStringLiteral("promptPerplexity"));
    bar->addWidget(m_perplexity, 1);
    layout->addLayout(bar);
    m_generated = new QLabel(this);
    m_generated->setObjectName(QStringLiteral("generatedText"));
    m_generated->setWordWrap(true);
    m_generated->setTextFormat(Qt::RichText);
    layout->addWidget(m_generated);
    auto* step_bar = new QHBoxLayout;
    m_step = new QSpinBox(this);
    m_step->setObjectName(QStringLiteral("topKStep"));
    m_step->setRange(0, 0);
    m_step->setPrefix(tr("next token after step "));
    m_step->setSpecialValueText(tr("next token after the prompt"));
    m_step->setToolTip(tr("Step 0: the distribution after the prompt; step s: after the s-th generated token."));
    step_bar->addWidget(m_step);
    step_bar->addStretch(1);
    layout->addLayout(step_bar);
    connect(m_step, &QSpinBox::valueChanged, this, [this] { fillTopK(); });
    m_topK = new QTableWidget(0, 3, this);
    m_topK->setObjectName(QStringLiteral("nextTokenTopK"));
    m_topK->setHorizontalHeaderLabels({tr("next token"), tr("id"), tr("probability")});
    m_topK->verticalHeader()->setVisible(false);
    m_topK->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_topK->horizontalHeader()->setStretchLastSection(true);
    m_topK->setMaximumHeight(150);
    layout->addWidget(m_topK);

    connect(m_editor, &QPlainTextEdit::textChanged, this, &PromptPanel::retokenize);
    connect(m_generate, &QPushButton::clicked, this, [this] { emit generateRequested(m_count->value()); });
    setTokenizer(nullptr);
}

void PromptPanel::setTokenizer(std::shared_ptr<const Tokenizer> tokenizer) {
    m_tokenizer = std::move(tokenizer);
    m_editor->setEnabled(m_tokenizer != nullptr);
    m_generate->setEnabled(m_tokenizer != nullptr);
    m_count->setEnabled(m_tokenizer != nullptr);
    m_temperature->setEnabled(m_tokenizer != nullptr);
    m_samplingTopK->setEnabled(m_tokenizer && m_temperature->value() > 0.0);
    m_topP->setEnabled(m_tokenizer && m_temperature->value() > 0.0);
    m_seed->setEnabled(m_tokenizer && m_temperature->value() > 0.0);
    if (!m_tokenizer) {
        m_tokens.clear();
        m_chips->setText(
            tr("<i>Synthetic models read synthetic token ids. Open a model (File → Open model…) to type "
               "a prompt.</i>"));
        m_generated->clear();
        m_perplexity->clear();
        m_topK->setRowCount(0);
        return;
    }
    retokenize();
}

QString PromptPanel::prompt() const {
    return m_editor->toPlainText();
}

void PromptPanel::setPrompt(const QString& text) {
    if (text != prompt()) m_editor->setPlainText(text);  // textChanged retokenizes
}

int PromptPanel::generateCount() const {
    return m_count->value();
}

SamplingOptions PromptPanel::sampling() const {
    SamplingOptions o;
    o.temperature = m_temperature->value();
    o.top_k = m_samplingTopK->value();
    o.top_p = m_topP->value();
    o.seed = static_cast<uint64_t>(m_seed->value());
    return o;
}

void PromptPanel::setSampling(const SamplingOptions& o) {
    m_temperature->setValue(o.temperature);
    m_samplingTopK->setValue(static_cast<int>(o.top_k));
    m_topP->setValue(o.top_p);
    m_seed->setValue(static_cast<int>(o.seed));
}

void PromptPanel::showStep(int step) {
    m_step->setValue(step);
}

int PromptPanel::shownStep() const {
    return m_step->value();
}

void PromptPanel::retokenize() {
    if (!m_tokenizer) return;
    const QByteArray utf8 = prompt().toUtf8();
    std::vector<int32_t> ids = m_tokenizer->encode(std::string_view(utf8.constData(), static_cast<size_t>(utf8.size())),
                                                   m_tokenizer->addBosByDefault());
    QString html;
    for (size_t i = 0; i < ids.size() && i < static_cast<size_t>(kMaxChips); ++i) {
        const QString piece = QString::fromStdString(m_tokenizer->displayPiece(ids[i])).toHtmlEscaped();
        html +=
            QStringLiteral("<span style='background-color:#e6edf8; color:#123;'>&nbsp;%1&nbsp;<sub>%2</sub></span> ")
                .arg(piece.isEmpty() ? QStringLiteral("&nbsp;") : piece)
                .arg(ids[i]);
    }
    if (ids.size() > static_cast<size_t>(kMaxChips)) html += tr("… (%1 tokens)").arg(ids.size());
    m_chips->setText(html.isEmpty() ? tr("<i>(empty prompt)</i>") : html);
    m_chips->setToolTip(tr("%1 tokens").arg(ids.size()));
    const bool changed = ids != m_tokens;
    m_tokens = std::move(ids);
    if (changed) emit promptEdited();
}

std::vector<std::pair<int32_t, double>> PromptPanel::topNext(const RunResult& r, int64_t k) {
    std::vector<std::pair<int32_t, double>> out;
    const int64_t vocab = r.config.vocab_size;
    if (vocab <= 0 || static_cast<int64_t>(r.next_logits.size()) < vocab) return out;
    const float* logits = r.next_logits.data();  // sequence 0
    const double lse = logSumExp(logits, vocab);
    for (int32_t id : topK(logits, vocab, k)) out.emplace_back(id, std::exp(static_cast<double>(logits[id]) - lse));
    return out;
}

QStringList PromptPanel::pieces(const RunResult* r) const {
    QStringList out;
    if (!m_tokenizer) return out;
    const int64_t T = r ? r->shape.prompt_len : static_cast<int64_t>(m_tokens.size());
    for (int64_t t = 0; t < T; ++t) {
        const int32_t id = r && t < static_cast<int64_t>(r->prompt_tokens.size())
                               ? r->prompt_tokens[static_cast<size_t>(t)]
                           : t < static_cast<int64_t>(m_tokens.size()) ? m_tokens[static_cast<size_t>(t)]
                                                                       : 0;
        out << QString::fromStdString(m_tokenizer->displayPiece(id));
    }
    if (r && !r->generated.empty())
        for (int32_t id : r->generated.front()) out << QString::fromStdString(m_tokenizer->displayPiece(id));
    return out;
}

void PromptPanel::appendGeneratedToken(qint64 step, int32_t token) {
    if (!m_tokenizer) return;
    if (step == 0) m_streamed.clear();
    if (step != static_cast<qint64>(m_streamed.size())) return;  // a step of another run
    m_streamed.push_back(token);
    m_generated->setText(
        tr("<b>Generating…</b> (%1 tokens): %2<b>%3</b>")
            .arg(m_streamed.size())
            .arg(prompt().toHtmlEscaped(), QString::fromStdString(m_tokenizer->decode(m_streamed)).toHtmlEscaped()));
}

void PromptPanel::setResult(const RunResultPtr& result) {
    if (!m_tokenizer || !result) return;
    if (!result->generated.empty() && !result->generated.front().empty())
        m_generated->setText(
            tr("<b>Generated</b> (%1 tokens, %2): %3<b>%4</b>")
                .arg(result->generated.front().size())
                .arg(sampling().temperature > 0.0
                         ? tr("sampled, temperature %1, seed %2").arg(sampling().temperature).arg(m_seed->value())
                         : tr("greedy"))
                .arg(prompt().toHtmlEscaped(),
                     QString::fromStdString(m_tokenizer->decode(result->generated.front())).toHtmlEscaped()));
    else
        m_generated->setText(tr("<i>No tokens generated (decode steps 0): press Generate.</i>"));
    m_result = result;
    {
        // After a new run the table follows its last step (the distribution the next token would come from).
        const QSignalBlocker b(m_step);
        const int last = std::max(0, static_cast<int>(result->step_top.size()) - 1);
        m_step->setRange(0, last);
        m_step->setValue(last);
    }
    fillTopK();
}

void PromptPanel::fillTopK() {
    if (!m_tokenizer || !m_result) return;
    const RunResult* result = m_result.get();
    const int step = m_step->value();
    const auto top = step < static_cast<int>(result->step_top.size()) ? result->step_top[static_cast<size_t>(step)]
                                                                      : topNext(*result, kTopK);
    m_topK->setRowCount(static_cast<int>(top.size()));
    for (size_t i = 0; i < top.size(); ++i) {
        const int row = static_cast<int>(i);
        m_topK->setItem(row, 0,
                        new QTableWidgetItem(QStringLiteral("'%1'").arg(
                            QString::fromStdString(m_tokenizer->displayPiece(top[i].first)))));
        m_topK->setItem(row, 1, new QTableWidgetItem(QString::number(top[i].first)));
        m_topK->setItem(row, 2, new QTableWidgetItem(QString::number(top[i].second, 'f', 4)));
    }
    m_topK->setToolTip(step > 0 ? tr("Next token after %1 generated tokens").arg(step)
                                : tr("Next token after the prompt"));
}

void PromptPanel::setPerplexity(double perplexity) {
    m_perplexity->setText(tr("prompt perplexity <b>%1</b>").arg(perplexity, 0, 'f', 3));
}

}  // namespace gqa::ui
