// Decode and prefill attention on the CPU backend, per KV-head count (MHA -> GQA -> MQA).
// Run: build/bin/gqa_bench --benchmark_filter=Decode
#include <benchmark/benchmark.h>

#include "gqa/backend.h"

namespace {

// Args: KV heads (of 64 query heads), context, cache dtype (0 bf16, 1 fp16).
void BM_DecodeAttention(benchmark::State& state) {
    auto backend = gqa::createCpuBackend();
    const gqa::AttentionShape s{1, 64, state.range(0), 1, state.range(1), 128, true};
    const gqa::DType dt = state.range(2) ? gqa::DType::F16 : gqa::DType::BF16;
    for (auto _ : state) {
        auto ms = backend->timeAttention(s, dt, 10);
        if (!ms) {
            state.SkipWithError(ms.error().message.c_str());
            break;
        }
        state.SetIterationTime(ms->median_ms * 1e-3);
    }
    const double kv_bytes = 2.0 * static_cast<double>(s.n_kv_heads * s.kv_len * s.head_dim) * 2.0;
    state.counters["kv_GBps"] =
        benchmark::Counter(kv_bytes * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{64, 8, 1}, {4096}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

void BM_PrefillAttention(benchmark::State& state) {
    auto backend = gqa::createCpuBackend();
    const gqa::AttentionShape s{1, 32, state.range(0), 512, 512, 128, true};
    for (auto _ : state) {
        auto ms = backend->timeAttention(s, gqa::DType::BF16, 5);
        if (!ms) {
            state.SkipWithError(ms.error().message.c_str());
            break;
        }
        state.SetIterationTime(ms->median_ms * 1e-3);
    }
}
BENCHMARK(BM_PrefillAttention)->Arg(32)->Arg(8)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
