// gqa-lab-cli bench: attention and full-layer benchmarks with GQA-vs-MHA ratios, measured in one run
// next to the device's own ceilings (read bandwidth, GEMM rate).
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/cost_model.h"
#include "gqa/memory_model.h"
#include "gqa/timing.h"
#include "gqa/weights.h"

namespace gqa::cli {
namespace {

struct BenchArgs {
    std::string backend = "cpu";
    std::string model;         // a checkpoint: decode tokens/s instead of the kernel tables
    std::string write_random;  // a preset: write its random bf16 weights as a checkpoint, then bench that
    std::string random;        // a preset: bench its random weights in memory, in weight_dtype
    std::string weight_dtype = "bf16";
    int64_t prefill_repeats = 5;
    std::string scratch_dir;
    int64_t prompt = 64, steps = 16;
    bool json = false;
    bool quick = false;
    bool decode_table = false;  // the decode-shape table (bf16 and fp16 caches) instead of the default tables
    int iterations = 20;
    std::string dtype = "bf16";
};

struct AttnRow {
    std::string phase;
    int64_t batch, hq, hkv, q_len, kv_len, d;
    TimingStats t;  // the attention kernel's repeats; ms is their median
    double ms = 0, kv_bytes = 0, flops = 0;
    double gbps = 0, bw_fraction = 0, tflops = 0, speedup_vs_mha = 0;
    int64_t window = 0;          // sliding window (0 = none)
    double speedup_vs_full = 0;  // window rows: ms of the same shape without a window / ms
};

// "median (min-max)" in milliseconds.
std::string spreadText(const TimingStats& t) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.3f (%.3f-%.3f)", t.median_ms, t.min_ms, t.max_ms);
    return buf;
}

// The kernel timing policy of every table: `iterations` timed repeats after two warm-up runs.
RepeatPolicy kernelPolicy(int iterations) {
    RepeatPolicy p;
    p.repeats = std::max(3, iterations);
    p.warmup = 2;
    return p;
}

// A whole model, prefill and decode with the LM head: `prefill_repeats` prefills of `prompt` tokens (each on an
// emptied cache) against the GEMM ceiling, then `steps` timed decode steps, each against the floor (bytes the
// step must read) / (read bandwidth); both ceilings are measured in this run, right before and right after, and
// the higher of the two probes is the ceiling (a probe that caught a slow moment must not flatter the result).
// Two read-bandwidth probes around a measurement that differ by more than this fraction: the machine's bandwidth
// moved while it ran.
constexpr double kBandwidthMoved = 0.25;
bool bandwidthMoved(double before, double after) {
    return std::max(before, after) > (1.0 + kBandwidthMoved) * std::min(before, after);
}

int benchModel(const BenchArgs& a, Backend& b, const Model& m, const std::string& label) {
    const ModelConfig& c = m.config;
    const int64_t P = std::max<int64_t>(1, std::min(a.prompt, c.max_seq - a.steps - 2));
    const int64_t S = std::max<int64_t>(3, a.steps);
    const int64_t R = std::max<int64_t>(1, a.prefill_repeats);
    const LoadSample load0 = sampleLoad();
    auto ceil = b.measureCeilings();
    if (!ceil) return reportError(ceil.error());
    auto inst = b.createModel(m, 1, P + S + 2);
    if (!inst) return reportError(inst.error());
    const auto prompt = makeTokens(1, P, c.vocab_size, 11);
    StepRequest req;
    req.logits = LogitsMode::Last;  // the LM head runs in every timed step, prefill and decode
    StepOutput out;
    // R timed prefills after one warm-up (none when a single prefill is asked for), each on an emptied cache.
    RepeatPolicy prefill_policy;
    prefill_policy.repeats = static_cast<int>(R);
    prefill_policy.warmup = R == 1 ? 0 : 1;
    Repeater prefills(prefill_policy);
    while (prefills.keepGoing()) {
        (*inst)->reset();
        if (auto st = (*inst)->prefill(prompt.data(), P, req, out); !st) return reportError(st.error());
        prefills.add(out.total_ms);
    }
    const TimingStats pre = summarize(prefills.samples());
    std::vector<double> steps;
    int32_t next = 1;
    for (int64_t s = 0; s < S + 1; ++s) {
        if (auto st = (*inst)->decode(&next, req, out); !st) return reportError(st.error());
        next = static_cast<int32_t>(std::max_element(out.logits.begin(), out.logits.end()) - out.logits.begin());
        if (s > 0) steps.push_back(out.total_ms);  // the first step warms the decode path up
    }
    const TimingStats st = summarize(steps);
    const double median = st.median_ms;
    auto ceil_after = b.measureCeilings();
    if (!ceil_after) return reportError(ceil_after.error());
    const double bw_before = ceil->mem_bw_bytes_per_s, bw_after = ceil_after->mem_bw_bytes_per_s;
    const bool bw_moved = bandwidthMoved(bw_before, bw_after);
    ceil->mem_bw_bytes_per_s = std::max(bw_before, bw_after);
    ceil->gemm_flops_per_s = std::max(ceil->gemm_flops_per_s, ceil_after->gemm_flops_per_s);
    // Every weight matrix and the LM head are read once per step (the embedding only for one row), plus the
    // KV cache at the median step's context; bytes as stored (Q8_0: 34 per 32 values).
    const double weight_bytes = static_cast<double>(m.tensorBytes() - (c.tied_embeddings ? 0 : m.embedding.bytes));
    const double kv_bytes = static_cast<double>(estimateMemory(c, 1, P + S / 2).kv_cache_bytes);
    const double bw = ceil->mem_bw_bytes_per_s;
    const double floor_ms = (weight_bytes + kv_bytes) / bw * 1e3;
    // Prefill FLOPs: every layer's ops over the prompt and the LM head for its last position.
    const ModelOpCosts costs = modelOpCosts(c, c.n_layers, 1, P, P, bytesPerValue(c.weight_dtype), *ceil);
    double prefill_flops = 2.0 * static_cast<double>(c.vocab_size) * static_cast<double>(c.d_model);
    for (const auto& oc : costs.cost) prefill_flops += oc.flops;
    const double prefill_rate = prefill_flops / (pre.median_ms * 1e-3);
    const double gemm = ceil->gemm_flops_per_s;
    const auto dev = b.deviceInfo();
    const std::string busy = busyNote(load0, sampleLoad(), dev.threads);
    if (a.json) {
        nlohmann::json j = {{"device", dev.name},
                            {"backend", b.name()},
                            {"model", label},
                            {"weight_dtype", dtypeName(c.weight_dtype)},
                            {"kv_dtype", dtypeName(c.kv_dtype)},
                            {"lm_head_included", true},
                            {"prompt_tokens", P},
                            {"prefill_ms", pre.median_ms},
                            {"prefill", spreadJson(pre)},
                            {"prefill_tokens_per_s", static_cast<double>(P) / (pre.median_ms * 1e-3)},
                            {"prefill_gflop", prefill_flops * 1e-9},
                            {"prefill_gflop_per_s", prefill_rate * 1e-9},
                            {"gemm_gflop_per_s", gemm * 1e-9},
                            {"prefill_fraction_of_gemm", prefill_rate / gemm},
                            {"decode_steps", st.repeats},
                            {"decode_step_ms_median", median},
                            {"decode_step_ms_min", st.min_ms},
                            {"decode_step_ms_max", st.max_ms},
                            {"decode_step", spreadJson(st)},
                            {"decode_tokens_per_s", 1e3 / median},
                            {"weight_bytes_per_step", weight_bytes},
                            {"kv_bytes_per_step", kv_bytes},
                            {"mem_read_bw_gb_per_s", bw * 1e-9},
                            {"mem_read_bw_before_gb_per_s", bw_before * 1e-9},
                            {"mem_read_bw_after_gb_per_s", bw_after * 1e-9},
                            {"bandwidth_moved", bw_moved},
                            {"floor_ms", floor_ms},
                            {"step_over_floor", median / floor_ms},
                            {"ceilings_note", ceil->note},
                            {"busy_note", busy}};
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("Device: %s — backend %s; %s (weights %s, KV cache %s)\n", dev.name.c_str(), b.name().c_str(),
                label.c_str(), dtypeName(c.weight_dtype), dtypeName(c.kv_dtype));
    std::printf(
        "Ceilings measured in this run, the higher of the probes before and after: read bandwidth %.1f GB/s (before "
        "%.1f, after %.1f%s), GEMM %.1f GFLOP/s\n",
        bw * 1e-9, bw_before * 1e-9, bw_after * 1e-9, bw_moved ? ": the bandwidth moved during the run" : "",
        gemm * 1e-9);
    if (!busy.empty()) std::printf("Note: %s\n", busy.c_str());
    std::printf("LM head included in every step; ms: median (min-max)\n\n");
    std::printf(
        "| prompt | prefill ms (%zu) | prefill tok/s | prefill GFLOP/s | of GEMM | decode step ms (%zu) | decode tok/s "
        "| weights+KV read | floor ms | step/floor |\n|---|---|---|---|---|---|---|---|---|---|\n",
        prefills.samples().size(), steps.size());
    std::printf("| %lld | %s | %.1f | %.1f | %.0f%% | %s | %.2f | %s | %.2f | %.2f |\n", (long long)P,
                spreadText(pre).c_str(), static_cast<double>(P) / (pre.median_ms * 1e-3), prefill_rate * 1e-9,
                100 * prefill_rate / gemm, spreadText(st).c_str(), 1e3 / median,
                formatBytes(static_cast<int64_t>(weight_bytes + kv_bytes)).c_str(), floor_ms, median / floor_ms);
    return 0;
}

// A preset's random weights in `dtype`, in memory (Q8_0 included, which a Hugging Face checkpoint cannot hold).
Expected<Model> randomModel(const std::string& preset, const std::string& dtype) {
    ModelArgs ma;
    ma.preset = preset;
    ma.dtype = dtype;
    auto cfg = resolveModel(ma);
    if (!cfg) return cfg.error();
    return makeSyntheticModel(*cfg, 7, WeightsMode::Random);
}

// A preset's random weights written as a Hugging Face checkpoint (bf16), so the benchmark reads a mapped file.
Expected<std::string> writeRandomCheckpoint(const std::string& preset, const std::string& dir) {
    auto m = randomModel(preset, "bf16");
    if (!m) return m.error();
    GQA_TRY(saveHfModel(*m, dir));
    return dir;
}

// The decode-shape table: B 1 and 8; 64 query heads with 64, 8 and 1 KV heads, and 32 with 8; head_dim 64 and 128;
// 4k and 16k context; bf16 and fp16 caches. Every row streams its K/V from DRAM (timeAttention rotates through
// >= 256 MiB of copies) and is set against the read bandwidth measured just before it: on a shared machine the
// bandwidth moves by 2x within the minutes the table takes, so one probe at the start would misjudge later rows.
int runDecodeTable(const BenchArgs& a, Backend& b) {
    const LoadSample load0 = sampleLoad();
    struct Row {
        int64_t batch, hq, hkv, d, ctx;
        DType dtype;
        TimingStats t;
        double kv_bytes = 0, gbps = 0, bw = 0, bw_fraction = 0, speedup_vs_mha = 0;
        double bw_before = 0, bw_after = 0;           // the probes around the row; bw is the higher
        bool bw_moved = false;                        // they differ by more than kBandwidthMoved
        double flops = 0, gemm = 0, roofline_ms = 0;  // roofline: max(bytes / read BW, FLOPs / fp32 GEMM rate)
        bool memory_bound = true;
    };
    Ceilings first_ceil;
    double bw_min = 0, bw_max = 0;
    std::vector<Row> rows;
    std::vector<Ceilings> before;  // the probe right before each row
    const std::vector<int64_t> batches = a.quick ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{1, 8};
    const std::vector<int64_t> contexts = a.quick ? std::vector<int64_t>{1024} : std::vector<int64_t>{4096, 16384};
    const std::pair<int64_t, int64_t> heads[] = {{64, 64}, {64, 8}, {64, 1}, {32, 8}};
    for (DType dt : {DType::BF16, DType::F16})
        for (int64_t B : batches)
            for (int64_t D : {64, 128})
                for (int64_t T : contexts)
                    for (const auto& [hq, hkv] : heads) {
                        // One query row sees the whole cache, as in tradeoff's decode timing.
                        const AttentionShape s{B, hq, hkv, 1, T, D, false};
                        auto ceil = b.measureCeilings();  // fresh, right before this row (and after the last)
                        if (!ceil) return reportError(ceil.error());
                        if (rows.empty()) first_ceil = *ceil;
                        before.push_back(*ceil);
                        auto t = b.timeAttentionStats(s, dt, kernelPolicy(a.iterations));
                        if (!t) return reportError(t.error());
                        Row r{B, hq, hkv, D, T, dt, *t};
                        r.kv_bytes =
                            2.0 * static_cast<double>(B * hkv * T * D) * static_cast<double>(bytesPerElement(dt));
                        // QK^T and PV: 2 x 2 FLOPs per query head, key and head_dim element.
                        r.flops = 4.0 * static_cast<double>(B * hq * T * D);
                        rows.push_back(r);
                    }
    auto last = b.measureCeilings();  // after the last row
    if (!last) return reportError(last.error());
    before.push_back(*last);
    // Each row against the higher of the probes just before and just after it (the next row's): on a shared
    // machine the bandwidth moved by up to 2x between consecutive rows, and a probe that caught a slow moment
    // must not make a row look closer to the ceiling than it is. Rows whose two probes differ by more than
    // kBandwidthMoved are marked.
    for (size_t i = 0; i < rows.size(); ++i) {
        Row& r = rows[i];
        r.bw_before = before[i].mem_bw_bytes_per_s;
        r.bw_after = before[i + 1].mem_bw_bytes_per_s;
        r.bw = std::max(r.bw_before, r.bw_after);
        r.bw_moved = bandwidthMoved(r.bw_before, r.bw_after);
        bw_min = i == 0 ? std::min(r.bw_before, r.bw_after) : std::min({bw_min, r.bw_before, r.bw_after});
        bw_max = std::max(bw_max, r.bw);
        r.gbps = r.kv_bytes / (r.t.median_ms * 1e-3) * 1e-9;
        r.bw_fraction = r.kv_bytes / (r.t.median_ms * 1e-3) / r.bw;
        r.gemm = std::max(before[i].gemm_flops_per_s, before[i + 1].gemm_flops_per_s);
        const double mem_ms = r.kv_bytes / r.bw * 1e3, compute_ms = r.flops / r.gemm * 1e3;
        r.memory_bound = mem_ms >= compute_ms;
        r.roofline_ms = std::max(mem_ms, compute_ms);
    }
    for (auto& r : rows)
        for (const auto& m : rows)
            if (m.batch == r.batch && m.hq == r.hq && m.hkv == m.hq && m.d == r.d && m.ctx == r.ctx &&
                m.dtype == r.dtype)
                r.speedup_vs_mha = m.t.median_ms / r.t.median_ms;
    const auto dev = b.deviceInfo();
    const std::string busy = busyNote(load0, sampleLoad(), dev.threads);
    if (a.json) {
        nlohmann::json j;
        j["device"] = dev.name;
        j["backend"] = b.name();
        j["ceilings"] = {{"mem_read_bw_gb_per_s_min", bw_min * 1e-9},
                         {"mem_read_bw_gb_per_s_max", bw_max * 1e-9},
                         {"gemm_gflop_per_s", first_ceil.gemm_flops_per_s * 1e-9},
                         {"note", first_ceil.note + ", measured before every row and after the last; each row "
                                                    "against the higher of the two around it"}};
        j["busy_note"] = busy;
        j["decode_table"] = nlohmann::json::array();
        for (const auto& r : rows) {
            nlohmann::json row = {{"batch", r.batch},
                                  {"q_heads", r.hq},
                                  {"kv_heads", r.hkv},
                                  {"group_size", r.hq / r.hkv},
                                  {"head_dim", r.d},
                                  {"kv_len", r.ctx},
                                  {"kv_dtype", dtypeName(r.dtype)},
                                  {"kv_bytes", r.kv_bytes},
                                  {"ms", r.t.median_ms},
                                  {"gb_per_s", r.gbps},
                                  {"mem_read_bw_gb_per_s", r.bw * 1e-9},
                                  {"mem_read_bw_before_gb_per_s", r.bw_before * 1e-9},
                                  {"mem_read_bw_after_gb_per_s", r.bw_after * 1e-9},
                                  {"bandwidth_moved", r.bw_moved},
                                  {"fraction_of_read_bw", r.bw_fraction},
                                  {"flops", r.flops},
                                  {"gemm_gflop_per_s", r.gemm * 1e-9},
                                  {"bound", r.memory_bound ? "memory" : "compute"},
                                  {"roofline_ms", r.roofline_ms},
                                  {"fraction_of_roofline", r.roofline_ms / r.t.median_ms}};
            // 32/8 has no MHA row in the table.
            row["speedup_vs_mha"] = r.speedup_vs_mha > 0 ? nlohmann::json(r.speedup_vs_mha) : nlohmann::json(nullptr);
            row.update(spreadJson(r.t));
            j["decode_table"].push_back(row);
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("Device: %s — backend %s\n", dev.name.c_str(), b.name().c_str());
    std::printf("Read bandwidth measured in this run before every row and after the last: %.1f-%.1f GB/s\n",
                bw_min * 1e-9, bw_max * 1e-9);
    if (!busy.empty()) std::printf("Note: %s\n", busy.c_str());
    std::printf(
        "\nDecode attention (one query per sequence, the whole cache visible); ms: median (min-max) of %d "
        "repeats; read BW and fp32 GEMM rate: the higher of the probes right before and right after the row (*: they "
        "differ by more than %.0f%%, the machine's bandwidth moved during the row); bound: which of K/V bytes / read "
        "BW and FLOPs / GEMM rate is longer (the roofline)\n\n",
        kernelPolicy(a.iterations).repeats, 100 * kBandwidthMoved);
    std::printf(
        "| B | Hq/Hkv | g | D | context | cache | K/V bytes | ms | GB/s | read BW GB/s | %% of read BW | bound | %% of "
        "roofline | vs MHA |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& r : rows) {
        char vs_mha[32] = "-";
        if (r.speedup_vs_mha > 0) std::snprintf(vs_mha, sizeof vs_mha, "%.2fx", r.speedup_vs_mha);
        std::printf(
            "| %lld | %lld/%lld | %lld | %lld | %lld | %s | %s | %s | %.1f | %.1f%s | %.0f%% | %s | %.0f%% | %s |\n",
            (long long)r.batch, (long long)r.hq, (long long)r.hkv, (long long)(r.hq / r.hkv), (long long)r.d,
            (long long)r.ctx, dtypeName(r.dtype), formatBytes(static_cast<int64_t>(r.kv_bytes)).c_str(),
            spreadText(r.t).c_str(), r.gbps, r.bw * 1e-9, r.bw_moved ? "*" : "", 100 * r.bw_fraction,
            r.memory_bound ? "memory" : "compute", 100 * r.roofline_ms / r.t.median_ms, vs_mha);
    }
    return 0;
}

int runBench(const BenchArgs& a) {
    if (!a.model.empty() || !a.write_random.empty() || !a.random.empty()) {
        auto be = openBackend(a.backend);
        if (!be) return reportError(be.error());
        if (!a.random.empty()) {
            auto m = randomModel(a.random, a.weight_dtype);
            if (!m) return reportError(m.error());
            return benchModel(a, **be, *m, a.random + " (random " + a.weight_dtype + " weights, in memory)");
        }
        std::string path = a.model;
        if (!a.write_random.empty()) {
            const std::string dir = a.scratch_dir.empty() ? "/tmp/gqa-lab-bench-" + a.write_random : a.scratch_dir;
            auto w = writeRandomCheckpoint(a.write_random, dir);
            if (!w) return reportError(w.error());
            path = *w;
        }
        LoadOptions opt;
        opt.tokenizer = false;
        opt.available_bytes = (*be)->deviceInfo().available_bytes;
        auto m = loadModel(path, opt);
        if (!m) return reportError(m.error());
        return benchModel(a, **be, *m, path);
    }
    if (a.decode_table) {
        auto be = openBackend(a.backend);
        if (!be) return reportError(be.error());
        return runDecodeTable(a, **be);
    }
    auto dt = parseDType(a.dtype);
    if (!dt) return reportError(makeError(ErrorCode::InvalidArgument, "unknown dtype '" + a.dtype + "'"));
    auto be = openBackend(a.backend);
    if (!be) return reportError(be.error());
    Backend& b = **be;
    const LoadSample load0 = sampleLoad();
    auto ceil = b.measureCeilings();  // fresh, in this run
    if (!ceil) return reportError(ceil.error());
    const double bw = ceil->mem_bw_bytes_per_s;
    const RepeatPolicy policy = kernelPolicy(a.iterations);
    const int64_t ctx = a.quick ? 1024 : 4096;

    std::vector<AttnRow> rows;
    auto attn = [&](const char* phase, int64_t B, int64_t hq, int64_t hkv, int64_t tq, int64_t tk, int64_t D,
                    bool causal) -> Status {
        AttentionShape s{B, hq, hkv, tq, tk, D, causal};
        auto t = b.timeAttentionStats(s, *dt, policy);
        if (!t) return t.error();
        AttnRow r{phase, B, hq, hkv, tq, tk, D, *t};
        r.ms = t->median_ms;
        r.kv_bytes = 2.0 * static_cast<double>(B * hkv * tk * D) * static_cast<double>(bytesPerElement(*dt));
        r.flops = 4.0 * static_cast<double>(B * hq * D) * static_cast<double>(attentionPairs(tq, tk, causal));
        r.gbps = r.kv_bytes / (r.ms * 1e-3) * 1e-9;
        r.bw_fraction = r.kv_bytes / (r.ms * 1e-3) / bw;
        r.tflops = r.flops / (r.ms * 1e-3) * 1e-12;
        rows.push_back(r);
        return Status::ok();
    };
    // Decode: DeepSeek LLM 67B's attention shape (64 query heads, head_dim 128) at 4k context, batch 1.
    for (int64_t hkv : {64, 8, 1})
        if (auto st = attn("decode", 1, 64, hkv, 1, ctx, 128, true); !st) return reportError(st.error());
    for (int64_t hkv : {32, 8})
        if (auto st = attn("decode", a.quick ? 2 : 8, 32, hkv, 1, ctx, 128, true); !st) return reportError(st.error());
    // Causal prefill.
    for (int64_t hkv : {32, 8})
        if (auto st = attn("prefill", 1, 32, hkv, a.quick ? 256 : 1024, a.quick ? 256 : 1024, 128, true); !st)
            return reportError(st.error());
    // Sliding window (GQA g = 4, 32/8 heads): decode at a long context and causal prefill, for several windows
    // and none; K/V bytes and FLOPs count only the band, so the cost should follow w, not the context.
    std::vector<AttnRow> wrows;
    auto attnWindow = [&](const char* phase, int64_t tq, int64_t tk, int64_t w) -> Status {
        AttentionShape s{1, 32, 8, tq, tk, 128, true, w};
        auto t = b.timeAttentionStats(s, *dt, policy);
        if (!t) return t.error();
        AttnRow r{phase, 1, 32, 8, tq, tk, 128, *t};
        r.window = w;
        r.ms = t->median_ms;
        r.kv_bytes = 2.0 * static_cast<double>(8 * attentionKeysRead(tq, tk, w) * 128) *
                     static_cast<double>(bytesPerElement(*dt));
        r.flops = 4.0 * static_cast<double>(32 * 128) * static_cast<double>(attentionPairs(tq, tk, true, w));
        r.gbps = r.kv_bytes / (r.ms * 1e-3) * 1e-9;
        r.bw_fraction = r.kv_bytes / (r.ms * 1e-3) / bw;
        r.tflops = r.flops / (r.ms * 1e-3) * 1e-12;
        wrows.push_back(r);
        return Status::ok();
    };
    const int64_t wctx = a.quick ? 4096 : 16384;
    for (int64_t w : {int64_t{0}, wctx / 2, wctx / 4, wctx / 8, wctx / 16, wctx / 32})
        if (auto st = attnWindow("decode", 1, wctx, w); !st) return reportError(st.error());
    const int64_t wpre = a.quick ? 512 : 2048;
    for (int64_t w : {int64_t{0}, wpre / 4, wpre / 16})
        if (auto st = attnWindow("prefill", wpre, wpre, w); !st) return reportError(st.error());
    for (auto& r : wrows)
        for (const auto& f : wrows)
            if (f.phase == r.phase && f.window == 0) r.speedup_vs_full = f.ms / r.ms;

    // Speedups against the MHA row of the same phase, batch and query heads.
    for (auto& r : rows)
        for (const auto& m : rows)
            if (m.phase == r.phase && m.batch == r.batch && m.hq == r.hq && m.hkv == m.hq)
                r.speedup_vs_mha = m.ms / r.ms;

    // Full decoder layer, one decode step: MHA vs GQA of the same model (TinyLlama-like widths).
    struct LayerRow {
        std::string kind;
        int64_t hkv = 0, ctx = 0;
        TimingStats step, attention;  // over the timed decode steps
        double step_ms = 0, attention_ms = 0, floor_ms = 0, bytes = 0, speedup_vs_mha = 0;
    };
    std::vector<LayerRow> lrows;
    const int64_t lctx = a.quick ? 256 : 1024;
    for (int64_t hkv : {32, 4}) {
        ModelConfig c;
        c.name = "bench-layer";
        c.d_model = 2048;
        c.n_layers = 1;
        c.n_q_heads = 32;
        c.n_kv_heads = hkv;
        c.head_dim = 64;
        c.ffn_dim = 5632;
        c.vocab_size = 512;
        c.max_seq = lctx + 16;
        c.weight_dtype = c.embed_dtype = c.kv_dtype = *dt;
        auto w = makeSyntheticModel(c, 5, WeightsMode::Random);
        if (!w) return reportError(w.error());
        auto model = b.createModel(*w, 1, lctx + 16);
        if (!model) return reportError(model.error());
        auto prompt = makeTokens(1, lctx, c.vocab_size, 3);
        StepRequest req;
        StepOutput out;
        if (auto st = (*model)->prefill(prompt.data(), lctx, req, out); !st) return reportError(st.error());
        std::vector<double> steps, attn;
        for (int s = 0; s < 12; ++s) {  // the first two steps warm the decode path up
            auto tok = makeTokens(1, 1, c.vocab_size, 3, lctx + s);
            if (auto st = (*model)->decode(tok.data(), req, out); !st) return reportError(st.error());
            if (s >= 2) {
                steps.push_back(out.total_ms);
                attn.push_back(out.layer_ms[0][static_cast<size_t>(Op::Attention)]);
            }
        }
        LayerRow r;
        r.kind = hkv == 32 ? "MHA" : "GQA g=8";
        r.hkv = hkv;
        r.ctx = lctx;
        r.step = summarize(steps);
        r.attention = summarize(attn);
        r.step_ms = r.step.median_ms;
        r.attention_ms = r.attention.median_ms;
        // Bytes one step reads: the layer's weights (the step computes no logits) and the KV cache.
        r.bytes = static_cast<double>(w->tensorBytes() - w->embedding.bytes) +
                  static_cast<double>(estimateMemory(c, 1, lctx).kv_cache_bytes);
        r.floor_ms = r.bytes / bw * 1e3;
        lrows.push_back(r);
    }
    for (auto& r : lrows) r.speedup_vs_mha = lrows[0].step_ms / r.step_ms;

    const auto dev = b.deviceInfo();
    const std::string busy = busyNote(load0, sampleLoad(), dev.threads);
    if (a.json) {
        nlohmann::json j;
        j["device"] = dev.name;
        j["backend"] = b.name();
        j["kv_dtype"] = dtypeName(*dt);
        j["ceilings"] = {{"mem_read_bw_gb_per_s", bw * 1e-9},
                         {"gemm_gflop_per_s", ceil->gemm_flops_per_s * 1e-9},
                         {"note", ceil->note}};
        j["busy_note"] = busy;
        for (const auto& r : rows) {
            nlohmann::json row = {{"phase", r.phase},
                                  {"batch", r.batch},
                                  {"q_heads", r.hq},
                                  {"kv_heads", r.hkv},
                                  {"group_size", r.hq / r.hkv},
                                  {"q_len", r.q_len},
                                  {"kv_len", r.kv_len},
                                  {"head_dim", r.d},
                                  {"ms", r.ms},
                                  {"kv_bytes", r.kv_bytes},
                                  {"gb_per_s", r.gbps},
                                  {"fraction_of_read_bw", r.bw_fraction},
                                  {"tflop_per_s", r.tflops},
                                  {"speedup_vs_mha", r.speedup_vs_mha}};
            row.update(spreadJson(r.t));
            j["attention"].push_back(row);
        }
        for (const auto& r : wrows) {
            nlohmann::json row = {{"phase", r.phase},
                                  {"batch", r.batch},
                                  {"q_heads", r.hq},
                                  {"kv_heads", r.hkv},
                                  {"group_size", r.hq / r.hkv},
                                  {"q_len", r.q_len},
                                  {"kv_len", r.kv_len},
                                  {"window", r.window},
                                  {"head_dim", r.d},
                                  {"ms", r.ms},
                                  {"kv_bytes_read", r.kv_bytes},
                                  {"gb_per_s", r.gbps},
                                  {"fraction_of_read_bw", r.bw_fraction},
                                  {"tflop_per_s", r.tflops},
                                  {"speedup_vs_no_window", r.speedup_vs_full}};
            row.update(spreadJson(r.t));
            j["attention_window"].push_back(row);
        }
        for (const auto& r : lrows)
            j["layer_decode"].push_back({{"kind", r.kind},
                                         {"kv_heads", r.hkv},
                                         {"context", r.ctx},
                                         {"step_ms", r.step_ms},
                                         {"step", spreadJson(r.step)},
                                         {"attention_ms", r.attention_ms},
                                         {"attention", spreadJson(r.attention)},
                                         {"bytes_floor_ms", r.floor_ms},
                                         {"step_over_floor", r.step_ms / r.floor_ms},
                                         {"speedup_vs_mha", r.speedup_vs_mha}});
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("Device: %s — backend %s, KV cache %s\n", dev.name.c_str(), b.name().c_str(), dtypeName(*dt));
    std::printf("Ceilings measured in this run: read bandwidth %.1f GB/s, GEMM %.1f GFLOP/s\n", bw * 1e-9,
                ceil->gemm_flops_per_s * 1e-9);
    if (!busy.empty()) std::printf("Note: %s\n", busy.c_str());
    std::printf("\nms: median (min-max) of %d repeats of the kernel alone\n\n", policy.repeats);
    std::printf("| phase | B | Hq/Hkv | g | Tq | Tk | D | ms | KV GB/s | %% of read BW | TFLOP/s | vs MHA |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& r : rows)
        std::printf("| %s | %lld | %lld/%lld | %lld | %lld | %lld | %lld | %s | %.1f | %.0f%% | %.3f | %.2fx |\n",
                    r.phase.c_str(), (long long)r.batch, (long long)r.hq, (long long)r.hkv, (long long)(r.hq / r.hkv),
                    (long long)r.q_len, (long long)r.kv_len, (long long)r.d, spreadText(r.t).c_str(), r.gbps,
                    100 * r.bw_fraction, r.tflops, r.speedup_vs_mha);
    std::printf(
        "\nSliding-window attention (GQA 32/8, head_dim 128, batch 1): K/V read and FLOPs within the window "
        "only\n\n");
    std::printf("| phase | Tq | Tk | window | ms | KV read | KV GB/s | %% of read BW | TFLOP/s | vs no window |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& r : wrows)
        std::printf("| %s | %lld | %lld | %s | %s | %s | %.1f | %.0f%% | %.3f | %.2fx |\n", r.phase.c_str(),
                    (long long)r.q_len, (long long)r.kv_len, r.window > 0 ? std::to_string(r.window).c_str() : "none",
                    spreadText(r.t).c_str(), formatBytes(static_cast<int64_t>(r.kv_bytes)).c_str(), r.gbps,
                    100 * r.bw_fraction, r.tflops, r.speedup_vs_full);
    std::printf(
        "\nOne decoder layer (d_model 2048, 32 query heads, head_dim 64, FFN 5632), one decode step at "
        "context %lld:\n\n",
        (long long)lctx);
    std::printf("| attention | KV heads | step ms | attention ms | weights+KV floor ms | step/floor | vs MHA |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const auto& r : lrows)
        std::printf("| %s | %lld | %s | %s | %.3f | %.2f | %.2fx |\n", r.kind.c_str(), (long long)r.hkv,
                    spreadText(r.step).c_str(), spreadText(r.attention).c_str(), r.floor_ms, r.step_ms / r.floor_ms,
                    r.speedup_vs_mha);
    return 0;
}

const CommandRegistrar reg("bench", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<BenchArgs>();
    auto* cmd = app.add_subcommand("bench",
                                   "Attention and full-layer benchmarks with GQA-vs-MHA ratios and the "
                                   "device's measured ceilings (markdown table or JSON)");
    cmd->add_option("--backend", args->backend, "cpu, cuda or auto")->capture_default_str();
    cmd->add_option("--dtype", args->dtype, "KV-cache dtype: fp32, fp16, bf16")->capture_default_str();
    cmd->add_option("--iterations", args->iterations,
                    "Timed repeats per shape, at least 3 (median, min and max reported)")
        ->capture_default_str();
    cmd->add_flag("--quick", args->quick, "Smaller contexts (a smoke run)");
    cmd->add_flag("--decode-table", args->decode_table,
                  "Only the decode-shape table: B 1/8, 64 query heads with 64/8/1 KV heads and 32 with 8, head_dim "
                  "64/128, context 4k/16k, bf16 and fp16 caches, each against the read bandwidth measured just before "
                  "it (minutes)");
    cmd->add_option("--model", args->model, "Benchmark decode of this checkpoint (HF directory or .gguf) instead");
    cmd->add_option("--write-random", args->write_random,
                    "Write PRESET's random bf16 weights as a checkpoint (in --scratch-dir) and benchmark its decode");
    cmd->add_option("--random", args->random,
                    "Benchmark PRESET with random weights in --weight-dtype, held in memory (q8_0 included)");
    cmd->add_option("--weight-dtype", args->weight_dtype, "Weights of --random: fp32, fp16, bf16 or q8_0")
        ->capture_default_str();
    cmd->add_option("--prefill-repeats", args->prefill_repeats, "Timed prefills of a whole model (median reported)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--scratch-dir", args->scratch_dir,
                    "Where --write-random writes (default /tmp/gqa-lab-bench-PRESET)");
    cmd->add_option("--prompt-tokens", args->prompt, "Prompt length before the timed decode steps")
        ->capture_default_str();
    cmd->add_option("--steps", args->steps, "Timed decode steps (median reported)")->capture_default_str();
    cmd->add_flag("--json", args->json, "Print JSON");
    cmd->callback([args, &exit_code] { exit_code = runBench(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
