#!/usr/bin/python3
"""Writes a small random OpenNMT-py 3.x Transformer checkpoint and what a reference OpenNMT-py
Transformer says about it.

  onmt_fixture.py OUT_DIR VARIANT

VARIANT:
  relu-interleaved-shared  shared source/target embeddings and generator (share_embeddings,
                           share_decoder_embeddings), no Q/K/V biases (add_qkvbias False, 3.x's
                           default), FFN biases, interleaved position table, no norm_eps in opt
                           (older 3.x: 1e-6)
  gelu-concat-separate     separate vocabularies, an untied generator, Q/K/V biases, GELU, the
                           SinusoidalConcat table, norm_eps 1e-5

OUT_DIR/model.pt is written by torch.save itself (a zip archive: pickle + storages) with the keys
ModelSaver._save writes: model (the state dict without the generator, including the pe buffers
of shape [5000, 1, d]), generator (weight, bias), vocab (vocabs_to_dict: src, tgt, data_task,
decoder_start_token), opt (an argparse.Namespace with the 3.x option names) and optim.
OUT_DIR/spm/{source,target}.spm come from spm_train. OUT_DIR/reference/ holds sources.txt,
greedy.txt, beam4.txt and logits.f32 + logits.json from a PyTorch forward written from OpenNMT-py
3.x's definition (onmt/encoders/transformer.py, onmt/decoders/transformer.py): pre-norm, the FFN
block's own layer norm and residual, final norms, embeddings × sqrt(d) + pe, Q / sqrt(d_head)
after projection, logits from the generator; sources without BOS or EOS, decoding from <s>.
"""
import argparse
import collections
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
SPECIALS = ["<unk>", "<blank>", "<s>", "</s>"]


def pe_table(n, d, concat):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    if concat:  # SinusoidalConcat: fairseq's halves
        half = d // 2
        f = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / (half - 1)))
        pe = torch.cat([torch.sin(pos * f), torch.cos(pos * f)], dim=1)
    else:  # SinusoidalInterleaved
        div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * -(math.log(10000.0) / d))
        pe = torch.zeros(n, d, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
    return pe.float()


class Reference:
    def __init__(self, w, d, heads, act, eps, layers):
        self.w, self.d, self.h, self.eps, self.layers = w, d, heads, eps, layers
        self.act = torch.relu if act == "relu" else torch.nn.functional.gelu

    def lin(self, x, name):
        y = x @ self.w[name + ".weight"].T
        return y + self.w[name + ".bias"] if name + ".bias" in self.w else y

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.d,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def attn(self, x, kv, name, causal):
        dh = self.d // self.h
        split = lambda t: t.view(t.shape[0], self.h, dh).transpose(0, 1)
        q = split(self.lin(x, name + ".linear_query")) / math.sqrt(dh)
        k, v = split(self.lin(kv, name + ".linear_keys")), split(self.lin(kv, name + ".linear_values"))
        s = q @ k.transpose(1, 2)
        if causal:
            n = x.shape[0]
            s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), -1e18)
        ctx = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(x.shape[0], self.d)
        return self.lin(ctx, name + ".final_linear")

    def ffn(self, x, name):
        return x + self.lin(self.act(self.lin(self.ln(x, name + ".layer_norm"), name + ".w_1")), name + ".w_2")

    def embed(self, ids, side):
        p = f"{side}.embeddings.make_embedding"
        return self.w[p + ".emb_luts.0.weight"][torch.tensor(ids)] * math.sqrt(self.d) + self.w[p + ".pe.pe"][: len(ids), 0]

    def encode(self, src):
        x = self.embed(src, "encoder")
        for i in range(self.layers):
            p = f"encoder.transformer.{i}"
            x = x + self.attn(self.ln(x, p + ".layer_norm"), self.ln(x, p + ".layer_norm"), p + ".self_attn", False)
            x = self.ffn(x, p + ".feed_forward")
        return self.ln(x, "encoder.layer_norm")

    def logits(self, memory, prefix):
        x = self.embed(prefix, "decoder")
        for i in range(self.layers):
            p = f"decoder.transformer_layers.{i}"
            n1 = self.ln(x, p + ".layer_norm_1")
            x = x + self.attn(n1, n1, p + ".self_attn", True)
            x = x + self.attn(self.ln(x, p + ".layer_norm_2"), memory, p + ".context_attn", False)
            x = self.ffn(x, p + ".feed_forward")
        return self.lin(self.ln(x, "decoder.layer_norm"), "generator")


def main():
    out, variant = sys.argv[1], sys.argv[2]
    shared = variant == "relu-interleaved-shared"
    rng = random.Random(31)
    torch.manual_seed(31)
    ref_dir, spm_dir = os.path.join(out, "reference"), os.path.join(out, "spm")
    for x in (ref_dir, spm_dir):
        os.makedirs(x, exist_ok=True)
    src_pieces = train_spm(corpus(rng, 400, 0), os.path.join(spm_dir, "source"), 120)
    tgt_pieces = train_spm(corpus(rng, 400, 9), os.path.join(spm_dir, "target"), 110)
    train_spm([l.upper() + " zzq xxv" for l in corpus(rng, 300, 3)], os.path.join(out, "other"), 100)
    def vocab_of(*lists):
        v = list(SPECIALS)
        for pieces in lists:
            v += [p for p in pieces if p not in v and p not in ("<s>", "</s>", "<unk>")]
        return v
    src_vocab = tgt_vocab = vocab_of(src_pieces, tgt_pieces) if shared else None
    if not shared:
        src_vocab, tgt_vocab = vocab_of(src_pieces), vocab_of(tgt_pieces)
    V, Vt, d, ff, heads, layers = len(src_vocab), len(tgt_vocab), 64, 128, 4, 2
    act = "relu" if shared else "gelu"
    eps = 1e-6 if shared else 1e-5
    qkv_bias = not shared

    w = collections.OrderedDict()
    def lin(name, o, i, bias=True):
        w[name + ".weight"] = torch.randn(o, i) * (1.0 / math.sqrt(i))
        if bias:
            w[name + ".bias"] = torch.randn(o) * 0.1
    def ln(name):
        w[name + ".weight"] = 1.0 + 0.1 * torch.randn(d)
        w[name + ".bias"] = 0.05 * torch.randn(d)
    def mha(p):
        for proj in ("linear_keys", "linear_values", "linear_query", "final_linear"):
            lin(f"{p}.{proj}", d, d, bias=qkv_bias)
    def ffn(p):
        ln(p + ".layer_norm")
        lin(p + ".w_1", ff, d)
        lin(p + ".w_2", d, ff)
    pe = pe_table(5000, d, concat=not shared)[:, None, :]  # the buffer's [max_len, 1, d]
    src_emb = torch.randn(V, d) * 0.3
    w["encoder.embeddings.make_embedding.emb_luts.0.weight"] = src_emb
    w["encoder.embeddings.make_embedding.pe.pe"] = pe
    for i in range(layers):
        p = f"encoder.transformer.{i}"
        mha(p + ".self_attn")
        ffn(p + ".feed_forward")
        ln(p + ".layer_norm")
    ln("encoder.layer_norm")
    tgt_emb = src_emb if shared else torch.randn(Vt, d) * 0.3  # share_embeddings: one tensor
    w["decoder.embeddings.make_embedding.emb_luts.0.weight"] = tgt_emb
    w["decoder.embeddings.make_embedding.pe.pe"] = pe
    for i in range(layers):
        p = f"decoder.transformer_layers.{i}"
        ln(p + ".layer_norm_1")
        mha(p + ".self_attn")
        ln(p + ".layer_norm_2")
        mha(p + ".context_attn")
        ffn(p + ".feed_forward")
    ln("decoder.layer_norm")
    generator = collections.OrderedDict()
    generator["weight"] = tgt_emb if shared else torch.randn(Vt, d) * 0.3  # share_decoder_embeddings
    generator["bias"] = torch.randn(Vt) * 0.1
    opt = argparse.Namespace(
        model_task="seq2seq", encoder_type="transformer", decoder_type="transformer", enc_layers=layers,
        dec_layers=layers, layers=-1, heads=heads, hidden_size=d, enc_hid_size=d, dec_hid_size=d,
        word_vec_size=d, src_word_vec_size=d, tgt_word_vec_size=d, transformer_ff=ff, position_encoding=True,
        position_encoding_type="SinusoidalInterleaved" if shared else "SinusoidalConcat",
        max_relative_positions=0, pos_ffn_activation_fn=act, layer_norm="standard", add_qkvbias=qkv_bias,
        add_ffnbias=True, share_embeddings=shared, share_decoder_embeddings=shared, self_attn_type="scaled-dot",
        copy_attn=False, parallel_residual=False, num_kv=0, lora_layers=[], quant_layers=[],
        decoder_start_token="<s>", model_dtype="fp32", save_format="pytorch", dropout=[0.1], seed=31)
    if not shared:
        opt.norm_eps = eps
        opt.shared_layer_norm = False
    vocab = {"src": src_vocab, "tgt": tgt_vocab, "data_task": "seq2seq", "decoder_start_token": "<s>"}
    torch.save({"model": w, "generator": generator, "vocab": vocab, "opt": opt, "optim": None},
               os.path.join(out, "model.pt"))

    full = dict(w)
    full["generator.weight"], full["generator.bias"] = generator["weight"], generator["bias"]
    ref = Reference(full, d, heads, act, eps, layers)
    start, eos, blank = tgt_vocab.index("<s>"), tgt_vocab.index("</s>"), tgt_vocab.index("<blank>")
    ordinary = [i for i, p in enumerate(src_vocab) if p not in SPECIALS]
    # No EOS: OpenNMT-py's sources are the bare tokens.
    fed = [[rng.choice(ordinary) for _ in range(rng.randint(3, 15))] for _ in range(SENTENCES)]
    tgt_ordinary = [i for i, p in enumerate(tgt_vocab) if p not in SPECIALS]
    write_reference(ref_dir, ref, fed, fed, src_vocab, tgt_vocab, start, eos, {blank, start}, MAX_LEN, rng,
                    tgt_ordinary)

if __name__ == "__main__":
    main()
