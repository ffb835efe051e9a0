#!/usr/bin/python3
"""Writes a small random CTranslate2 model directory and what a reference CTranslate2 Transformer
says about it.

  ct2_fixture.py OUT_DIR VARIANT

VARIANT (each a layout CTranslate2 4.x reads):
  v6-prenorm-int8   binary version 6, TransformerSpec revision 7, pre-norm (OpenNMT-py style),
                    ReLU, int8 weights with per-row weight_scale, shared vocabulary (.json),
                    stored interleaved position table, tied tables stored once with aliases,
                    config.json (no source EOS, decoding starts from <s>)
  v5-postnorm-int16 binary version 5, revision 5, post-norm, GELU, int16 weights (one scale per
                    tensor), float16 biases and norms, separate vocabularies (.txt), untied output
                    projection, no position table (CTranslate2's own OpenNMT-tf table), tokens
                    and source EOS as root attributes (no config.json)
  v3-prenorm-f32    binary version 3 (item sizes instead of dtypes), revision 4 (attributes at the
                    root), float32, shared vocabulary (.txt), aliases
  v2-prenorm-f32    binary version 2: as v3 without the alias section (tied tables stored twice)
  v1-prenorm-int16  binary version 1 (no spec name: CTranslate2 runs it as TransformerBase, 8
                    heads; revision 1), OpenNMT-tf's own variable names (transformer/encoder/w_embs,
                    .../multi_head/conv1d/kernel, .../LayerNorm/gamma, decoder/dense), int16
                    weights without a stored scale (CTranslate2's global scale, 1000), no
                    attributes at all, separate vocabularies (.txt), no position table

OUT_DIR/model/ holds model.bin (written byte by byte from the layout CTranslate2's
ModelSpec._serialize writes and src/models/model.cc reads: u32 version; u16-length NUL-ended
strings; per variable name, u8 rank, u32 dims, then u8 dtype + u32 bytes (v >= 4) or u8 item
size + u32 elements (v <= 3), data; v >= 3: aliases), the vocabularies, config.json (v6), and
OUT_DIR/spm/{source,target}.spm (spm_train). OUT_DIR/reference/: sources.txt, greedy.txt,
beam4.txt and logits.f32 + logits.json, from a PyTorch forward written from CTranslate2's
definition of the model (its own code; the weights as CTranslate2 dequantizes them, q / scale).
"""
import json
import math
import os
import random
import struct
import sys

import torch

from marian_fixture import corpus, train_spm
from reference_search import write_reference

MAX_LEN = 20
SENTENCES = 60
DTYPE_ID = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}
ITEM_SIZE = {"float32": 4, "int16": 2, "int8": 1}
PACK = {"float32": "f", "int8": "b", "int16": "h", "int32": "i", "float16": "e"}


def ct2_string(s):
    b = s.encode() + b"\0"
    return struct.pack("<H", len(b)) + b


def write_model_bin(path, version, spec, revision, variables, aliases):
    """variables: name -> (dtype, shape, flat list of values)."""
    out = struct.pack("<I", version)
    if version >= 2:
        out += ct2_string(spec) + struct.pack("<I", revision)
    out += struct.pack("<I", len(variables))
    for name in sorted(variables):
        dtype, shape, values = variables[name]
        out += ct2_string(name) + struct.pack("<B", len(shape))
        out += b"".join(struct.pack("<I", d) for d in shape)
        data = struct.pack(f"<{len(values)}{PACK[dtype]}", *values)
        if version >= 4:
            out += struct.pack("<BI", DTYPE_ID[dtype], len(data))
        else:
            out += struct.pack("<BI", ITEM_SIZE[dtype], len(values))
        out += data
    if version >= 3:
        out += struct.pack("<I", len(aliases))
        for alias, target in sorted(aliases.items()):
            out += ct2_string(alias) + ct2_string(target)
    with open(path, "wb") as f:
        f.write(out)


def opennmt_tf_v1_name(name):
    """The name OpenNMT-tf 1.x gave the variable the Transformer spec calls `name` (what binary
    version 1 files store; CTranslate2's map_v1_variable_name goes the other way)."""
    side, rest = name.split("/", 1)
    rest = rest.replace("embeddings/weight", "w_embs").replace("projection/", "dense/")
    if side == "encoder":
        rest = rest.replace("self_attention/", "multi_head/")
    else:
        rest = rest.replace("self_attention/", "masked_multi_head/").replace("/attention/", "/multi_head/")
    rest = rest.replace("linear_0/", "conv1d/").replace("linear_1/", "conv1d_1/").replace("linear_2/", "conv1d_2/")
    rest = rest.replace("layer_norm/", "LayerNorm/")
    if rest.endswith("/weight"):
        rest = rest[: -len("weight")] + "kernel"
    return f"transformer/{side}/{rest}"


def interleaved_sinusoids(n, d):
    """OpenNMT-py's pe buffer: sin at even, cos at odd indices, positions from 0."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * -(math.log(10000.0) / d))
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.float()


def tensorflow_sinusoids(n, d):
    """CTranslate2's own table (generate_sinusoidal_position_encoding): positions from 1,
    timescales exp(-j ln(10000) / (d/2 - 1)), sines then cosines."""
    half = d // 2
    inc = math.log(10000.0) / (half - 1)
    ts = torch.exp(torch.arange(half, dtype=torch.float64) * -inc)
    pos = torch.arange(1, n + 1, dtype=torch.float64)[:, None] * ts[None, :]
    return torch.cat([torch.sin(pos), torch.cos(pos)], dim=1).float()


class Reference:
    """CTranslate2's TransformerEncoder / TransformerDecoder (src/layers/transformer.cc) in
    PyTorch, no caches: every step recomputes the prefix."""

    def __init__(self, w, d, heads, pre_norm, act, scale, pe):
        self.w, self.d, self.h, self.pre, self.scale, self.pe = w, d, heads, pre_norm, scale, pe
        self.act = {"relu": torch.relu, "gelu": torch.nn.functional.gelu}[act]
        self.layers = sum(1 for k in w if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
        self.dec_layers = sum(1 for k in w if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))

    def lin(self, x, name):
        return x @ self.w[name + "/weight"].T + self.w[name + "/bias"]

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.d,), self.w[name + "/gamma"], self.w[name + "/beta"], 1e-5)

    def mha(self, q, k, v, causal):
        dh = self.d // self.h
        split = lambda t: t.view(t.shape[0], self.h, dh).transpose(0, 1)
        s = (split(q) @ split(k).transpose(1, 2)) / math.sqrt(dh)
        if causal:
            n = q.shape[0]
            s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        return (torch.softmax(s, -1) @ split(v)).transpose(0, 1).reshape(q.shape[0], self.d)

    def sublayer(self, x, name, f):
        if self.pre:
            return x + f(self.ln(x, name))
        return self.ln(x + f(x), name)

    def self_attn(self, name, causal):
        def f(x):
            q, k, v = self.lin(x, name + "/linear_0").split(self.d, dim=1)
            return self.lin(self.mha(q, k, v, causal), name + "/linear_1")
        return f

    def ffn(self, name):
        return lambda x: self.lin(self.act(self.lin(x, name + "/linear_0")), name + "/linear_1")

    def embed(self, ids, table):
        return self.w[table][torch.tensor(ids)] * (math.sqrt(self.d) if self.scale else 1.0) + self.pe[: len(ids)]

    def encode(self, src):
        x = self.embed(src, "encoder/embeddings_0/weight")
        for i in range(self.layers):
            p = f"encoder/layer_{i}"
            x = self.sublayer(x, p + "/self_attention/layer_norm", self.self_attn(p + "/self_attention", False))
            x = self.sublayer(x, p + "/ffn/layer_norm", self.ffn(p + "/ffn"))
        return self.ln(x, "encoder/layer_norm") if self.pre else x

    def logits(self, memory, prefix):
        x = self.embed(prefix, "decoder/embeddings/weight")
        for i in range(self.dec_layers):
            p = f"decoder/layer_{i}"
            x = self.sublayer(x, p + "/self_attention/layer_norm", self.self_attn(p + "/self_attention", True))

            def cross(y, p=p):
                k, v = self.lin(memory, p + "/attention/linear_1").split(self.d, dim=1)
                return self.lin(self.mha(self.lin(y, p + "/attention/linear_0"), k, v, False), p + "/attention/linear_2")
            x = self.sublayer(x, p + "/attention/layer_norm", cross)
            x = self.sublayer(x, p + "/ffn/layer_norm", self.ffn(p + "/ffn"))
        if self.pre:
            x = self.ln(x, "decoder/layer_norm")
        return x @ self.w["decoder/projection/weight"].T + self.w["decoder/projection/bias"]


def main():
    out, variant = sys.argv[1], sys.argv[2]
    version = int(variant[1])
    pre = "prenorm" in variant
    quant = "int8" if "int8" in variant else "int16" if "int16" in variant else "float32"
    shared = version not in (1, 5)
    rng = random.Random(23)
    torch.manual_seed(23)
    model_dir, ref_dir, spm_dir = (os.path.join(out, x) for x in ("model", "reference", "spm"))
    for x in (model_dir, ref_dir, spm_dir):
        os.makedirs(x, exist_ok=True)
    src_pieces = train_spm(corpus(rng, 400, 0), os.path.join(spm_dir, "source"), 120)
    tgt_pieces = train_spm(corpus(rng, 400, 5), os.path.join(spm_dir, "target"), 110)
    # A SentencePiece model of other text, for the vocabulary-mismatch test.
    train_spm([l.upper() + " zzq xxv" for l in corpus(rng, 300, 3)], os.path.join(out, "other"), 100)
    specials = ["<unk>", "<blank>", "<s>", "</s>"]  # OpenNMT's vocabulary head
    def vocab_of(*lists):
        v = list(specials)
        for pieces in lists:
            v += [p for p in pieces if p not in v and p not in ("<s>", "</s>", "<unk>")]
        return v
    if shared:
        src_vocab = tgt_vocab = vocab_of(src_pieces, tgt_pieces)
    else:
        src_vocab, tgt_vocab = vocab_of(src_pieces), vocab_of(tgt_pieces)
    V, Vt, d, ffn, heads, layers = len(src_vocab), len(tgt_vocab), 64, 128, 4, 2
    if version == 1:
        heads = 8  # no attribute: the spec-less model is TransformerBase
    act = "relu" if pre else "gelu"

    # Float weights first; what CTranslate2 stores (and the reference uses) is derived below.
    w = {}
    def lin(name, o, i, bias=True):
        w[name + "/weight"] = torch.randn(o, i) * (1.0 / math.sqrt(i))
        if bias:
            w[name + "/bias"] = torch.randn(o) * 0.1
    def ln(name):
        w[name + "/gamma"] = 1.0 + 0.1 * torch.randn(d)
        w[name + "/beta"] = 0.05 * torch.randn(d)
    w["decoder/embeddings/weight"] = torch.randn(Vt, d) * (1.0 if pre else 0.3)
    src_table = "encoder/embeddings/weight" if version == 1 else "encoder/embeddings_0/weight"
    if not shared:
        w[src_table] = torch.randn(V, d) * 0.3
        w["decoder/projection/weight"] = torch.randn(Vt, d) * 0.3
    w["decoder/projection/bias"] = torch.randn(Vt) * (0.05 if pre else 0.3)
    for side, n in (("encoder", layers), ("decoder", layers)):
        for i in range(n):
            p = f"{side}/layer_{i}"
            lin(p + "/self_attention/linear_0", 3 * d, d)
            lin(p + "/self_attention/linear_1", d, d)
            ln(p + "/self_attention/layer_norm")
            if side == "decoder":
                lin(p + "/attention/linear_0", d, d)
                lin(p + "/attention/linear_1", 2 * d, d)
                lin(p + "/attention/linear_2", d, d)
                ln(p + "/attention/layer_norm")
            lin(p + "/ffn/linear_0", ffn, d)
            lin(p + "/ffn/linear_1", d, ffn)
            ln(p + "/ffn/layer_norm")
        if pre:
            ln(side + "/layer_norm")
    pe = interleaved_sinusoids(512, d) if version == 6 else tensorflow_sinusoids(512, d)

    stored, real = {}, {}
    for name, t in w.items():
        quantize = name.endswith("/weight") and "layer_norm" not in name and quant != "float32"
        if quantize and quant == "int8":
            amax = t.abs().amax(dim=1)
            scale = 127.0 / amax
            q = torch.round(t * scale[:, None]).to(torch.int8)
            stored[name] = ("int8", list(t.shape), q.flatten().tolist())
            stored[name + "_scale"] = ("float32", [t.shape[0]], scale.tolist())
            real[name] = q.float() / scale.float()[:, None]
        elif quantize:
            # Binary version 1 kept no int16 scale: CTranslate2 applies its global one, 1000.
            scale = torch.tensor(1000.0 if version == 1 else 2.0 ** 10 / float(t.abs().max()), dtype=torch.float32)
            q = torch.clamp(torch.round(t * scale), -32768, 32767).to(torch.int16)
            stored[name] = ("int16", list(t.shape), q.flatten().tolist())
            if version != 1:
                stored[name + "_scale"] = ("float32", [], [float(scale)])
            real[name] = q.float() / scale
        elif version == 5:  # float16 biases and norms
            h = t.half()
            stored[name] = ("float16", list(t.shape), h.flatten().tolist())
            real[name] = h.float()
        else:
            stored[name] = ("float32", list(t.shape), t.flatten().tolist())
            real[name] = t
    aliases = {}
    if shared:
        real["encoder/embeddings_0/weight"] = real["decoder/embeddings/weight"]
        real["decoder/projection/weight"] = real["decoder/embeddings/weight"]
        if version >= 3:
            aliases["encoder/embeddings_0/weight"] = "decoder/embeddings/weight"
            aliases["decoder/projection/weight"] = "decoder/embeddings/weight"
        else:  # no alias section: every table stored
            for n in ("encoder/embeddings_0/weight", "decoder/projection/weight"):
                stored[n] = stored["decoder/embeddings/weight"]
                if quant == "int8":
                    stored[n + "_scale"] = stored["decoder/embeddings/weight_scale"]
    if version == 6:
        stored["decoder/position_encodings/encodings"] = ("float32", [512, d], pe.flatten().tolist())
        aliases["encoder/position_encodings/encodings"] = "decoder/position_encodings/encodings"
    if version == 1:  # revision 1: OpenNMT-tf's names, no attributes
        stored = {opennmt_tf_v1_name(n): v for n, v in stored.items()}
    # Attributes: scopes since revision 5, at the root before.
    attrs = {"num_heads": ("int16" if version >= 4 else "int8", heads), "pre_norm": ("int8", int(pre)),
             "activation": ("int8", 0 if act == "relu" else 3), "scale_embeddings": ("int8", 1)}
    if version >= 5:
        for side in ("encoder", "decoder"):
            for k, (t, v) in attrs.items():
                stored[f"{side}/{k}"] = (t, [], [v])
        stored["encoder/embeddings_merge"] = ("int8", [], [0])
        stored["decoder/alignment_layer"] = ("int16", [], [-1])
        stored["decoder/alignment_heads"] = ("int16", [], [1])
        stored["decoder/start_from_zero_embedding"] = ("int8", [], [0])
        stored["decoder/alibi"] = ("int8", [], [0])
        stored["encoder/multi_query_attention"] = ("int8", [], [0])
    elif version > 1:
        for k, (t, v) in attrs.items():
            stored[k] = ("int8", [], [v])
    add_source_eos = version not in (1, 6)  # absent: CTranslate2 adds none
    if 1 < version < 6:  # the tokens and source settings as root attributes
        for k, s in (("unk_token", "<unk>"), ("bos_token", "<s>"), ("eos_token", "</s>")):
            stored[k] = ("int8", [len(s)], list(s.encode()))
        stored["with_source_bos"] = ("int8", [], [0])
        stored["with_source_eos"] = ("int8", [], [int(add_source_eos)])
        stored["with_target_bos"] = ("int8", [], [1])
        stored["user_decoder_start_tokens"] = ("int8", [], [0])
    revision = {6: 7, 5: 5, 3: 4, 2: 2, 1: 1}[version]
    write_model_bin(os.path.join(model_dir, "model.bin"), version, "TransformerSpec", revision, stored, aliases)
    if version == 6:
        with open(os.path.join(model_dir, "config.json"), "w") as f:
            json.dump({"add_source_bos": False, "add_source_eos": False, "bos_token": "<s>",
                       "decoder_start_token": "<s>", "eos_token": "</s>", "layer_norm_epsilon": None,
                       "multi_query_attention": False, "unk_token": "<unk>"}, f, indent=2, sort_keys=True)
    def save_vocab(base, tokens):
        if version == 6:
            with open(os.path.join(model_dir, base + ".json"), "w") as f:
                json.dump(tokens, f, ensure_ascii=False)
        else:
            with open(os.path.join(model_dir, base + ".txt"), "w") as f:
                f.write("\n".join(tokens) + "\n")
    if shared:
        save_vocab("shared_vocabulary", src_vocab)
    else:
        save_vocab("source_vocabulary", src_vocab)
        save_vocab("target_vocabulary", tgt_vocab)

    if version == 1:
        real["encoder/embeddings_0/weight"] = real.pop(src_table)
    ref = Reference(real, d, heads, pre, act, True, pe)
    start, eos, blank = tgt_vocab.index("<s>"), tgt_vocab.index("</s>"), tgt_vocab.index("<blank>")
    ordinary = [i for i, p in enumerate(src_vocab) if p not in specials]
    shown = [[rng.choice(ordinary) for _ in range(rng.randint(3, 15))] for _ in range(SENTENCES)]
    fed = [s + ([src_vocab.index("</s>")] if add_source_eos else []) for s in shown]
    tgt_ordinary = [i for i, p in enumerate(tgt_vocab) if p not in specials]
    write_reference(ref_dir, ref, shown, fed, src_vocab, tgt_vocab, start, eos, {blank, start}, MAX_LEN, rng,
                    tgt_ordinary)

if __name__ == "__main__":
    main()
