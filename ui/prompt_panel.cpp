#include "prompt_panel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

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
    m_perplexity = new QLabel(this);
    m_perplexity->setObjectName(QStringLiteral("promptPerplexity"));
    bar->addWidget(m_perplexity, 1);
    layout->addLayout(bar);
    m_generated = new QLabel(this);
    m_generated->setObjectName(QStringLiteral("generatedText"));
    m_generated->setWordWrap(true);
    m_generated->setTextFormat(Qt::RichText);
    layout->addWidget(m_generated);
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
    if (!m_tokenizer) {
        m_tokens.clear();
        m_chips->setText(tr("<i>Synthetic models read synthetic token ids. Open a model (File → Open model…) to type "
                            "a prompt.</i>"));
        m_generated->clear();
        m_perplexity->clear();
        m_topK->setRowCount(0);
        return;
    }
    retokenize();
}

QString PromptPanel::prompt() const { return m_editor->toPlainText(); }

void PromptPanel::setPrompt(const QString& text) {
    if (text != prompt()) m_editor->setPlainText(text);  // textChanged retokenizes
}

int PromptPanel::generateCount() const { return m_count->value(); }

void PromptPanel::retokenize() {
    if (!m_tokenizer) return;
    const QByteArray utf8 = prompt().toUtf8();
    std::vector<int32_t> ids = m_tokenizer->encode(std::string_view(utf8.constData(), static_cast<size_t>(utf8.size())),
                                                   m_tokenizer->addBosByDefault());
    QString html;
    for (size_t i = 0; i < ids.size() && i < static_cast<size_t>(kMaxChips); ++i) {
        const QString piece = QString::fromStdString(m_tokenizer->displayPiece(ids[i])).toHtmlEscaped();
        html += QStringLiteral("<span style='background-color:#e6edf8; color:#123;'>&nbsp;%1&nbsp;<sub>%2</sub></span> ")
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
        const int32_t id = r && t < static_cast<int64_t>(r->prompt_tokens.size()) ? r->prompt_tokens[static_cast<size_t>(t)]
                           : t < static_cast<int64_t>(m_tokens.size())            ? m_tokens[static_cast<size_t>(t)]
                                                                                  : 0;
        out << QString::fromStdString(m_tokenizer->displayPiece(id));
    }
    if (r && !r->generated.empty())
        for (int32_t id : r->generated.front()) out << QString::fromStdString(m_tokenizer->displayPiece(id));
    return out;
}

void PromptPanel::setResult(const RunResultPtr& result) {
    if (!m_tokenizer || !result) return;
    if (!result->generated.empty() && !result->generated.front().empty())
        m_generated->setText(tr("<b>Generated</b> (%1 tokens, greedy): %2<b>%3</b>")
                                 .arg(result->generated.front().size())
                                 .arg(prompt().toHtmlEscaped(),
                                      QString::fromStdString(m_tokenizer->decode(result->generated.front())).toHtmlEscaped()));
    else
        m_generated->setText(tr("<i>No tokens generated (decode steps 0): press Generate.</i>"));
    const auto top = topNext(*result, kTopK);
    m_topK->setRowCount(static_cast<int>(top.size()));
    for (size_t i = 0; i < top.size(); ++i) {
        const int row = static_cast<int>(i);
        m_topK->setItem(row, 0, new QTableWidgetItem(QStringLiteral("'%1'").arg(
                                    QString::fromStdString(m_tokenizer->displayPiece(top[i].first)))));
        m_topK->setItem(row, 1, new QTableWidgetItem(QString::number(top[i].first)));
        m_topK->setItem(row, 2, new QTableWidgetItem(QString::number(top[i].second, 'f', 4)));
    }
    m_topK->setToolTip(result->decode_steps_run > 0
                           ? tr("Next token after the %1 generated tokens").arg(result->decode_steps_run)
                           : tr("Next token after the prompt"));
}

void PromptPanel::setPerplexity(double perplexity) {
    m_perplexity->setText(tr("prompt perplexity <b>%1</b>").arg(perplexity, 0, 'f', 3));
}

}  // namespace gqa::ui
