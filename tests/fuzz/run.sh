#!/usr/bin/env bash
# Runs every libFuzzer target of a GQA_FUZZ build on its corpus:
#   tests/fuzz/run.sh <build-fuzz dir> <runs per target> [target ...] [-- extra libFuzzer flags]
# Seeds: corpus/<target> and regressions/<target> here, plus the matching files of ../shared/testdata (read in
# place through symbolic links in <build>/fuzz/seeds/<target>; GQA_TESTDATA_DIR overrides where it is). New
# inputs go to <build>/fuzz/work/<target>, crashes to <build>/fuzz/artifacts/<target>/, logs to
# <build>/fuzz/logs/<target>.log. Exits non-zero if any target finds a crash, a leak, a timeout or an OOM.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "$1" && pwd)"
runs="$2"
shift 2
targets=()
while (($#)) && [ "$1" != "--" ]; do targets+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
extra=("$@")
data="${GQA_TESTDATA_DIR:-$here/../../../shared/testdata}"
model="$data/models/tiny-llama-gqa"
((${#targets[@]})) || targets=(npy hf_config safetensors gguf tokenizer_json regex sentencepiece session
                                encode_llama_spm encode_deepseek_llm)

# Per target: the shared files that seed it, the largest input it mutates (bytes), and its dictionary.
seeds_of() {
  case "$1" in
    npy) echo "$model/reference/logits-f32-prompt1.npy" ;;
    hf_config) echo "$model/hf/config.json $model/hf/tokenizer_config.json" ;;
    safetensors) echo "$model/hf/model.safetensors" ;;
    gguf) echo "$model/tiny-llama-gqa-bf16.gguf $model/tiny-llama-gqa-q8_0.gguf $data/tokenizers/ggml-vocab-llama-spm.gguf $data/tokenizers/ggml-vocab-deepseek-llm.gguf" ;;
    sentencepiece) echo "$model/hf/tokenizer.model" ;;
    encode_llama_spm) echo "$data/tokenizers/ggml-vocab-llama-spm.gguf.inp" ;;
    encode_deepseek_llm) echo "$data/tokenizers/ggml-vocab-deepseek-llm.gguf.inp" ;;
  esac
}
max_len_of() {
  case "$1" in
    gguf) echo 32768 ;;
    safetensors | sentencepiece | tokenizer_json | session) echo 16384 ;;
    encode_*) echo 512 ;;
    regex) echo 1024 ;;
    *) echo 4096 ;;
  esac
}
dict_of() {
  case "$1" in
    gguf | npy | hf_config | safetensors | tokenizer_json | regex | session) echo "$here/dict/$1.dict" ;;
  esac
}

status=0
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $t: $bin is not built" >&2
    status=1
    continue
  fi
  work="$build/fuzz/work/$t" seeds="$build/fuzz/seeds/$t" art="$build/fuzz/artifacts/$t/"
  mkdir -p "$work" "$seeds" "$art" "$build/fuzz/logs"
  for f in $(seeds_of "$t"); do
    [ -f "$f" ] && ln -sf "$f" "$seeds/$(basename "$f")"
  done
  dirs=("$work" "$seeds")
  for d in "$here/corpus/$t" "$here/regressions/$t"; do [ -d "$d" ] && dirs+=("$d"); done
  flags=(-runs="$runs" -rss_limit_mb=2048 -timeout=1 -max_len="$(max_len_of "$t")" -artifact_prefix="$art"
         -print_final_stats=1)
  dict="$(dict_of "$t")"
  [ -n "$dict" ] && flags+=(-dict="$dict")
  log="$build/fuzz/logs/$t.log"
  start=$SECONDS
  if GQA_TESTDATA_DIR="$data" OMP_NUM_THREADS=1 "$bin" "${flags[@]}" "${extra[@]}" "${dirs[@]}" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  # The last status line (#N DONE/pulse cov: ft: corp: exec/s:) and the final executed-units count.
  last="$(grep -aE '^#[0-9]+' "$log" | tail -1 || true)"
  execs="$(grep -aE 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
  echo "fuzz: $t: $result in $((SECONDS - start)) s; executions ${execs:-?}; ${last}"
  if [ "$result" != ok ]; then
    grep -aE 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -20 >&2 || true
  fi
done
exit $status
