#!/usr/bin/env python3
"""Writes the small hand-made seed inputs in corpus/<target>/ (run once; the outputs are checked in).
The real files in ../shared/testdata are added by run.sh in place, not copied here. Python 3 only, no numpy."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- .npy -------------------------------------------------------------------------------------------
def npy(descr, shape, payload, major=1, fortran=False):
    shape_s = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(str(n) for n in shape) + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_s)
    lenfmt = "<H" if major == 1 else "<I"
    pre = 6 + 2 + struct.calcsize(lenfmt)
    pad = (64 - (pre + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack(lenfmt, len(header)) + header.encode("latin1") + payload


out("npy", "f32_2x3.npy", npy("<f4", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, 6)))
out("npy", "f16_4.npy", npy("<f2", [4], struct.pack("<4e", 1.0, -2.5, 65504.0, 0.0)))
out("npy", "f32_scalar_v2.npy", npy("<f4", [], struct.pack("<f", 3.5), major=2))
# (f32_1x0x3_v3.npy, an empty array, lives in regressions/npy: it found the memcpy(null) in npy.cpp)
# out("npy", "f32_1x0x3_v3.npy", npy("<f4", [1, 0, 3], b"", major=3))
out("npy", "big_endian.npy", npy(">f4", [2], struct.pack(">2f", 1, 2)))
out("npy", "fortran.npy", npy("<f4", [2, 2], struct.pack("<4f", 1, 2, 3, 4), fortran=True))

# ---- safetensors -----------------------------------------------------------------------------------
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


out("safetensors", "two.safetensors", safetensors(
    [("model.embed_tokens.weight", "BF16", [4, 2], b"\x80\x3f" * 8),
     ("model.norm.weight", "F32", [2], struct.pack("<2f", 1, 1))], {"format": "pt"}))
out("safetensors", "kinds.safetensors", safetensors(
    [("a", "F16", [1, 3], b"\x00\x3c" * 3), ("b", "I64", [1], struct.pack("<q", 7)),
     ("c", "U8", [0], b""), ("d", "F64", [], struct.pack("<d", 1.5))]))
out("safetensors", "empty.safetensors", safetensors([]))

# ---- GGUF --------------------------------------------------------------------------------------------
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


SCALAR = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i", T_F32: "<f",
          T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}


def gval(t, v):
    if t == T_STR:
        return gstr(v)
    if t == T_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml_type, ne, payload)]."""
    out_b = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out_b += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offs, data = [], b""
    for name, gt, ne, payload in tensors:
        data += b"\x00" * ((alignment - len(data) % alignment) % alignment)
        offs.append(len(data))
        data += payload
    for (name, gt, ne, payload), off in zip(tensors, offs):
        out_b += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out_b += struct.pack("<IQ", gt, off)
    out_b += b"\x00" * ((alignment - len(out_b) % alignment) % alignment)
    return out_b + data


# A SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte pieces, then a few scored pieces.
SPM_WORDS = ["\u2581", "\u2581H", "e", "l", "o", "ll", "\u2581He", "llo", "\u2581Hello", "\u2581w", "or", "ld",
             "\u2581world", "1", "2", "3", "\u2581<", "s", ">"]
spm_tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + SPM_WORDS
spm_scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(SPM_WORDS))]
spm_types = [2, 3, 3] + [6] * 256 + [1] * len(SPM_WORDS)
spm_vocab_kv = [("tokenizer.ggml.model", T_STR, "llama"),
                ("tokenizer.ggml.tokens", T_ARR, (T_STR, spm_tokens)),
                ("tokenizer.ggml.scores", T_ARR, (T_F32, spm_scores)),
                ("tokenizer.ggml.token_type", T_ARR, (T_I32, spm_types)),
                ("tokenizer.ggml.bos_token_id", T_U32, 1),
                ("tokenizer.ggml.eos_token_id", T_U32, 2),
                ("tokenizer.ggml.unknown_token_id", T_U32, 0),
                ("tokenizer.ggml.add_bos_token", T_BOOL, True),
                ("tokenizer.ggml.add_space_prefix", T_BOOL, True)]


def llama_kv(arch, d=8, heads=2, kv_heads=1, layers=1):
    return [("general.architecture", T_STR, arch), ("general.name", T_STR, "fuzz-seed"),
            ("general.alignment", T_U32, 32),
            (f"{arch}.block_count", T_U32, layers), (f"{arch}.embedding_length", T_U32, d),
            (f"{arch}.feed_forward_length", T_U32, 2 * d), (f"{arch}.attention.head_count", T_U32, heads),
            (f"{arch}.attention.head_count_kv", T_U32, kv_heads), (f"{arch}.context_length", T_U32, 64),
            (f"{arch}.rope.freq_base", T_F32, 10000.0),
            (f"{arch}.attention.layer_norm_rms_epsilon", T_F32, 1e-5)]


def f32(n):
    return struct.pack("<%df" % n, *([0.5] * n))


def q8_0(nblocks):
    return (b"\x00\x3c" + bytes(range(32))) * nblocks  # f16 scale 1.0, 32 int8


d = 8
out("gguf", "llama_spm.gguf", gguf(
    llama_kv("llama") + spm_vocab_kv,
    [("token_embd.weight", 0, [d, len(spm_tokens)], f32(d * len(spm_tokens))),
     ("blk.0.attn_norm.weight", 0, [d], f32(d)),
     ("blk.0.attn_q.weight", 30, [d, d], b"\x00\x3f" * (d * d)),
     ("output_norm.weight", 0, [d], f32(d))]))
out("gguf", "llama_q8_0.gguf", gguf(
    llama_kv("llama", d=32, heads=4, kv_heads=2) + [("llama.rope.scaling.type", T_STR, "linear"),
                                                   ("llama.rope.scaling.factor", T_F32, 2.0)],
    [("blk.0.attn_k.weight", 8, [32, 16], q8_0(16)), ("output.weight", 1, [32, 2], b"\x00\x3c" * 64)],
    version=2))
out("gguf", "vocab_only_spm.gguf", gguf(spm_vocab_kv, []))

# A byte-level BPE vocabulary (GPT-2 byte-to-unicode pieces) with merges.
def byte_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BU = byte_unicode()
bpe_base = [BU[b] for b in range(256)]
bpe_merges = ["H e", "l l", "ll o", "He llo", "\u0120 w", "o r", "or l", "orl d", "\u0120w orld", "1 2", "12 3"]
bpe_words = ["He", "ll", "llo", "Hello", "\u0120w", "or", "orl", "orld", "\u0120world", "12", "123"]
bpe_tokens = bpe_base + bpe_words + ["<|begin_of_sentence|>", "<|end_of_sentence|>"]
bpe_types = [1] * (len(bpe_tokens) - 2) + [3, 3]


def bpe_vocab_kv(pre):
    return [("tokenizer.ggml.model", T_STR, "gpt2"), ("tokenizer.ggml.pre", T_STR, pre),
            ("tokenizer.ggml.tokens", T_ARR, (T_STR, bpe_tokens)),
            ("tokenizer.ggml.token_type", T_ARR, (T_I32, bpe_types)),
            ("tokenizer.ggml.merges", T_ARR, (T_STR, bpe_merges)),
            ("tokenizer.ggml.bos_token_id", T_U32, len(bpe_tokens) - 2),
            ("tokenizer.ggml.eos_token_id", T_U32, len(bpe_tokens) - 1),
            ("tokenizer.ggml.add_bos_token", T_BOOL, True)]


for pre in ["deepseek-llm", "llama-bpe", "qwen2", "gpt2", "smollm", "deepseek-coder", "falcon"]:
    out("gguf", f"bpe_{pre}.gguf", gguf(bpe_vocab_kv(pre), []))
out("gguf", "qwen2_bpe.gguf", gguf(
    llama_kv("qwen2", d=16, heads=4, kv_heads=2) + [("qwen2.attention.key_length", T_U32, 4)] +
    bpe_vocab_kv("qwen2"), [("blk.0.attn_q.bias", 0, [16], f32(16))]))
out("gguf", "scalars.gguf", gguf(
    [("k.u8", T_U8, 1), ("k.i8", T_I8, -1), ("k.u16", T_U16, 2), ("k.i16", T_I16, -2), ("k.u64", T_U64, 3),
     ("k.i64", T_I64, -3), ("k.f64", T_F64, 0.5), ("k.arr_f64", T_ARR, (T_F64, [1.0, 2.0])),
     ("k.arr_u8", T_ARR, (T_U8, [1, 2, 3])), ("k.arr_bool", T_ARR, (T_BOOL, [True, False]))], []))

# ---- SentencePiece tokenizer.model (a ModelProto written field by field) ---------------------------
def varint(v):
    b = b""
    while True:
        x = v & 0x7F
        v >>= 7
        if v:
            b += bytes([x | 0x80])
        else:
            return b + bytes([x])


def field(num, wtype, payload):
    key = varint((num << 3) | wtype)
    if wtype == 0:
        return key + varint(payload)
    if wtype == 5:
        return key + struct.pack("<f", payload)
    return key + varint(len(payload)) + payload


def spm_model(byte_fallback=True, model_type=2, normalizer="identity", dummy_prefix=True):
    pieces = b""
    for tok, score, typ in zip(spm_tokens, spm_scores, spm_types):
        p = field(1, 2, tok.encode()) + field(2, 5, score)
        if typ != 1:
            p += field(3, 0, typ)
        pieces += field(1, 2, p)
    trainer = field(3, 0, model_type) + field(4, 0, len(spm_tokens)) + field(35, 0, int(byte_fallback))
    trainer += field(40, 0, 0) + field(41, 0, 1) + field(42, 0, 2)  # unk_id, bos_id, eos_id
    norm = field(1, 2, normalizer.encode()) + field(3, 0, int(dummy_prefix)) + field(4, 0, 0) + field(5, 0, 1)
    return pieces + field(2, 2, trainer) + field(3, 2, norm)


out("sentencepiece", "bpe_byte_fallback.model", spm_model())
out("sentencepiece", "bpe_no_fallback.model", spm_model(byte_fallback=False, dummy_prefix=False))
out("sentencepiece", "unigram.model", spm_model(model_type=1))
out("sentencepiece", "nmt_nfkc.model", spm_model(normalizer="nmt_nfkc"))

# ---- tokenizer.json ---------------------------------------------------------------------------------
byte_level = {
    "version": "1.0",
    "added_tokens": [{"id": len(bpe_tokens) - 2, "content": "<|begin_of_sentence|>", "special": True,
                      "lstrip": False, "rstrip": False, "normalized": False, "single_word": False}],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
        {"type": "Digits", "individual_digits": False},
        {"type": "Punctuation", "behavior": "Contiguous"},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<|begin_of_sentence|>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "special_tokens": {"<|begin_of_sentence|>": {"id": "<|begin_of_sentence|>",
                                                                    "ids": [len(bpe_tokens) - 2]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
              "ignore_merges": True, "vocab": {t: i for i, t in enumerate(bpe_tokens[:-1])},
              "merges": bpe_merges[:6] + [m.split(" ") for m in bpe_merges[6:]]},
}
out("tokenizer_json", "byte_level.json", json.dumps(byte_level, ensure_ascii=False))
spm_like = {
    "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(spm_tokens[:3])],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                       {"type": "Replace", "pattern": {"String": " "},
                                                        "content": "\u2581"}, {"type": "NFC"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                {"Sequence": {"id": "A", "type_id": 0}}]},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    # The merges' parts must be pieces too (the reader, like Hugging Face's, refuses a merge of unknown parts):
    # "H", "w", "r", "d" are in the vocabulary for them.
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
              "vocab": {t: i for i, t in enumerate(spm_tokens + ["H", "w", "r", "d"])},
              "merges": ["\u2581 H", "l l", "\u2581H e", "ll o", "\u2581He llo", "\u2581 w", "o r", "l d"]},
}
out("tokenizer_json", "spm_byte_fallback.json", json.dumps(spm_like, ensure_ascii=False))
metaspace = dict(spm_like, normalizer=None,
                 pre_tokenizer={"type": "Sequence", "pretokenizers": [
                     {"type": "WhitespaceSplit"},
                     {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}]},
                 decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"})
out("tokenizer_json", "metaspace.json", json.dumps(metaspace, ensure_ascii=False))

# ---- pre-tokenizer regexes: "<pattern>\0<subject>" (fuzz_regex) -----------------------------------------
# The patterns the tokenizers use (the GGUF presets of engine/src/tokenizer/pretokenize.cpp, Hugging Face's
# Digits / Punctuation / WhitespaceSplit), then constructs the needed-characters analysis models or refuses.
gpt2_re = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
regex_patterns = {
    "gpt2": gpt2_re,
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "deepseek_newline": r"[\r\n]",
    "deepseek_letters": r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{1E00}-\x{1F15}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}]+",
    "deepseek_punct": r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+",
    "deepseek_trailing_space": r"\s+$",
    "deepseek_cjk": r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
    "digits": r"\p{N}+",
    "falcon_punct": r"[\p{P}\$\+<=>\^~\|`]+",
    "falcon_digits": r"[0-9][0-9][0-9]",
    "hf_punctuation": r"[\p{P}!-/:-@\[-`{-~]",
    "whitespace": r"\s+",
    "lookbehind_named": r"(?<=x)(?<word>\w+)|(?<!\d)\.\d{2,}?",
    "nested_class": r"[a-z&&[^aeiou]]+|[[:upper:]][[:digit:]]*|\h\x41\u00e9",
    "anchors_lazy": r"^\s*?(?:ab|c?)+\b|\Gz|\A\z|é+x",
    "refused": r"(a)\1|\Kb|(?i)k|x{|(?#c)y|\R",
}
regex_subject = "Hello, World! it's 123 \u00e9t\u00e9 \u4e2d\u6587 \U0001F600\tx\r\nK \u212a 12,5 a.99 "
for name, pat in regex_patterns.items():
    out("regex", name + ".bin", pat.encode() + b"\x00" + regex_subject.encode() + b"\xff" + b"  ab'S\n")

# ---- text for the encoders: spaces, newlines, digits, accents, CJK, emoji, special tokens, bad UTF-8 --------
texts = {"hello.txt": "Hello world", "spaces.txt": "  two  spaces\n\n\tand tabs   ",
         "digits.txt": "3.14159 1234567 x2 \u0661\u0662", "accents.txt": "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m",
         "cjk.txt": "\u4e2d\u6587\u5b57 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4", "emoji.txt": "\U0001F600\U0001F44D\U0001F3FD!",
         "special.txt": "<s>hi</s><|begin_of_sentence|> <unk>", "empty.txt": ""}
for target in ["encode_llama_spm", "encode_deepseek_llm"]:
    for name, t in texts.items():
        out(target, name, t.encode("utf-8"))
    out(target, "invalid_utf8.bin", b"\xff\xfe\xc3(\xe2\x82\xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf \x00\x01")

# ---- config.json ------------------------------------------------------------------------------------
base = {"architectures": ["LlamaForCausalLM"], "hidden_size": 128, "intermediate_size": 352,
        "num_attention_heads": 8, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 32000,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}
out("hf_config", "llama.json", json.dumps(base))
out("hf_config", "llama3.json", json.dumps(dict(base, head_dim=16, eos_token_id=[2, 3], rope_scaling={
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192})))
out("hf_config", "mistral.json", json.dumps(dict(base, architectures=["MistralForCausalLM"], sliding_window=4096,
                                                  torch_dtype="float32", tie_word_embeddings=False)))
out("hf_config", "qwen2.json", json.dumps(dict(base, architectures=["Qwen2ForCausalLM"], use_sliding_window=False,
                                                sliding_window=32768, torch_dtype="float16",
                                                rope_scaling={"type": "linear", "factor": 2.0},
                                                attention_bias=True)))
out("hf_config", "bad_heads.json", json.dumps(dict(base, num_key_value_heads=3)))
