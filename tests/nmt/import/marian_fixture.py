#!/usr/bin/python3
"""Writes a small random Hugging Face MarianMT directory and what a reference MarianMT says about it.

Random post-norm models repeat themselves: most outputs are one piece many times, some end at
once. The token-for-token checks still test the search (beam 4 differs from greedy on about a
third of the sentences); the teacher-forced logits on random targets test every weight.

  marian_fixture.py OUT_DIR VARIANT      (VARIANT: shared-swish | separate-gelu)

OUT_DIR/model/: config.json, generation_config.json, vocab.json (and target_vocab.json when the
vocabularies are separate), source.spm, target.spm (trained here by spm_train on a few hundred
generated lines) and model.safetensors (shared-swish) or pytorch_model.bin (separate-gelu,
written by torch.save itself), in the layout transformers' MarianMTModel.save_pretrained
writes (key names, shapes, float32, tied tables stored once, the sinusoid position tables). The
safetensors file is written byte by byte from the format's definition
(https://github.com/huggingface/safetensors: 8-byte little-endian header length, JSON header
padded with spaces to 8 bytes, tensors back to back), not by a library.

OUT_DIR/reference/: sources.txt (60 lines of vocabulary pieces), greedy.txt and beam4.txt (the
reference decoder's outputs as pieces, at most 20) and logits.f32 + logits.json (teacher-forced
logits of the first sentences on random targets). The reference is its own PyTorch forward written from MarianMT's published
definition (transformers/models/marian/modeling_marian.py): post-norm layers, embeddings scaled
by sqrt(d_model), sinusoid positions with sines in the first half and cosines in the second,
logits against the tied (or separate) output table plus final_logits_bias, decoding started
from decoder_start_token_id. It shares no code with keel. Debian's python3-torch only.
"""
import json
import math
import os
import random
import struct
import subprocess
import sys

import torch

from reference_search import write_reference

MAX_LEN = 20
SENTENCES = 60

WORDS = ("the a of cell cells nucleus membrane protein division stage first second phase "
         "mitosis light dark plate well dose compound small large grows splits moves shows "
         "under over with without into from and or but not very more less early late").split()


def corpus(rng, n, shift):
    lines = []
    for _ in range(n):
        k = rng.randint(3, 12)
        lines.append(" ".join(WORDS[(rng.randrange(len(WORDS)) + shift) % len(WORDS)] for _ in range(k)))
    return lines


def train_spm(lines, prefix, vocab_size):
    text = prefix + ".txt"
    with open(text, "w") as f:
        f.write("\n".join(lines) + "\n")
    # Marian's own SentencePiece settings: no <s>, </s> = 0, <unk> = 1.
    subprocess.run(["spm_train", f"--input={text}", f"--model_prefix={prefix}",
                    f"--vocab_size={vocab_size}", "--model_type=unigram", "--bos_id=-1",
                    "--eos_id=0", "--unk_id=1", "--pad_id=-1", "--hard_vocab_limit=false",
                    "--minloglevel=2"], check=True, capture_output=True)
    os.remove(text)
    os.remove(prefix + ".vocab")
    out = subprocess.run(["spm_export_vocab", f"--model={prefix}.model"], check=True,
                         capture_output=True, text=True).stdout
    os.rename(prefix + ".model", prefix + ".spm")
    return [line.split("\t")[0] for line in out.splitlines() if line]


def marian_vocab(pieces_lists):
    """</s> 0, <unk> 1, every other piece once, <pad> last: how Marian's vocab.yml looks."""
    tokens = ["</s>", "<unk>"]
    for pieces in pieces_lists:
        for p in pieces:
            if p not in tokens and p not in ("<s>", "<pad>"):
                tokens.append(p)
    tokens.append("<pad>")
    return tokens


def write_safetensors(path, tensors):
    """The format, byte by byte: u64 LE header size, JSON header (space-padded to 8), data."""
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous().to(torch.float32)
        data = struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def sinusoids(n, d):
    """MarianSinusoidalPositionalEmbedding: sin(pos / 10000^(2(j//2)/d)) in the first half, cos after."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(d, dtype=torch.float64)[None, :]
    enc = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), 2 * torch.div(j, 2, rounding_mode="floor") / d)
    out = torch.zeros(n, d, dtype=torch.float64)
    half = d // 2 if d % 2 == 0 else d // 2 + 1
    out[:, :half] = torch.sin(enc[:, 0::2])
    out[:, half:] = torch.cos(enc[:, 1::2])
    return out.to(torch.float32)


class Reference:
    """MarianMT's forward pass from its definition (no caches: every step recomputes the prefix)."""

    def __init__(self, w, cfg):
        self.w, self.cfg = w, cfg
        self.d = cfg["d_model"]
        self.heads = cfg["encoder_attention_heads"]
        self.scale = math.sqrt(self.d) if cfg["scale_embedding"] else 1.0
        self.pos = sinusoids(cfg["max_position_embeddings"], self.d)
        act = cfg["activation_function"]
        self.act = torch.nn.functional.silu if act in ("swish", "silu") else torch.nn.functional.gelu
        self.shared = cfg["share_encoder_decoder_embeddings"]

    def linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def norm(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.d,), self.w[name + ".weight"], self.w[name + ".bias"], 1e-5)

    def attention(self, x, kv, name, causal):
        h, dh = self.heads, self.d // self.heads
        q = self.linear(x, name + ".q_proj") * dh ** -0.5
        k = self.linear(kv, name + ".k_proj")
        v = self.linear(kv, name + ".v_proj")
        split = lambda t: t.view(t.shape[0], h, dh).transpose(0, 1)
        scores = split(q) @ split(k).transpose(1, 2)
        if causal:
            n = x.shape[0]
            scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        out = (torch.softmax(scores, dim=-1) @ split(v)).transpose(0, 1).reshape(x.shape[0], self.d)
        return self.linear(out, name + ".out_proj")

    def embed(self, ids, table):
        return self.w[table][ids] * self.scale + self.pos[: len(ids)]

    def encode(self, src):
        x = self.embed(torch.tensor(src), "model.shared.weight" if self.shared else "model.encoder.embed_tokens.weight")
        for i in range(self.cfg["encoder_layers"]):
            p = f"model.encoder.layers.{i}"
            x = self.norm(x + self.attention(x, x, p + ".self_attn", False), p + ".self_attn_layer_norm")
            x = self.norm(x + self.linear(self.act(self.linear(x, p + ".fc1")), p + ".fc2"), p + ".final_layer_norm")
        return x

    def logits(self, memory, prefix):
        """Logits after each token of `prefix` (which starts with decoder_start_token_id)."""
        x = self.embed(torch.tensor(prefix), "model.shared.weight" if self.shared else "model.decoder.embed_tokens.weight")
        for i in range(self.cfg["decoder_layers"]):
            p = f"model.decoder.layers.{i}"
            x = self.norm(x + self.attention(x, x, p + ".self_attn", True), p + ".self_attn_layer_norm")
            x = self.norm(x + self.attention(x, memory, p + ".encoder_attn", False), p + ".encoder_attn_layer_norm")
            x = self.norm(x + self.linear(self.act(self.linear(x, p + ".fc1")), p + ".fc2"), p + ".final_layer_norm")
        head = self.w["lm_head.weight"] if "lm_head.weight" in self.w else (
            self.w["model.shared.weight"] if self.shared else self.w["model.decoder.embed_tokens.weight"])
        return x @ head.T + self.w["final_logits_bias"][0]


def main():
    out, variant = sys.argv[1], sys.argv[2]
    shared = variant == "shared-swish"
    rng = random.Random(17)
    torch.manual_seed(17)
    model_dir, ref_dir = os.path.join(out, "model"), os.path.join(out, "reference")
    os.makedirs(model_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    src_pieces = train_spm(corpus(rng, 400, 0), os.path.join(model_dir, "source"), 120)
    tgt_pieces = train_spm(corpus(rng, 400, 7), os.path.join(model_dir, "target"), 110)
    # A SentencePiece model of other text, for the vocabulary-mismatch test.
    train_spm([l.upper() + " zzq xxv" for l in corpus(rng, 300, 3)], os.path.join(out, "other"), 100)

    if shared:
        vocab = marian_vocab([src_pieces, tgt_pieces])
        tgt_vocab = vocab
    else:
        vocab = marian_vocab([src_pieces])
        tgt_vocab = marian_vocab([tgt_pieces])
    V, Vt = len(vocab), len(tgt_vocab)
    d, ffn, layers, heads = 64, 128, 2, 4
    cfg = {
        "_name_or_path": "keel-fixture/opus-mt-xx-yy", "architectures": ["MarianMTModel"],
        "model_type": "marian", "activation_function": "swish" if shared else "gelu",
        "d_model": d, "encoder_layers": layers, "decoder_layers": layers,
        "encoder_attention_heads": heads, "decoder_attention_heads": heads,
        "encoder_ffn_dim": ffn, "decoder_ffn_dim": ffn, "vocab_size": V, "decoder_vocab_size": Vt,
        "share_encoder_decoder_embeddings": shared, "scale_embedding": shared,
        "normalize_before": False, "normalize_embedding": False, "static_position_embeddings": True,
        "max_position_embeddings": 512, "pad_token_id": V - 1, "eos_token_id": 0,
        "decoder_start_token_id": Vt - 1 if not shared else V - 1, "forced_eos_token_id": 0,
        "bad_words_ids": [[V - 1]], "num_beams": 4, "max_length": 512, "tie_word_embeddings": True,
        "is_encoder_decoder": True, "dropout": 0.1, "attention_dropout": 0.0, "init_std": 0.02,
        "torch_dtype": "float32", "transformers_version": "4.30.2", "use_cache": True,
    }
    if not shared:  # pad and start must mean the same in both vocabularies
        cfg["pad_token_id"] = cfg["decoder_start_token_id"] = min(V, Vt) - 1
        # Give both vocabularies <pad> at that id (Marian puts it last).
        for voc in (vocab, tgt_vocab):
            voc.remove("<pad>")
            voc.insert(cfg["pad_token_id"], "<pad>")
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump({"bad_words_ids": [[cfg["pad_token_id"]]], "decoder_start_token_id": cfg["decoder_start_token_id"],
                   "eos_token_id": 0, "forced_eos_token_id": 0, "max_length": 512, "num_beams": 4,
                   "pad_token_id": cfg["pad_token_id"], "transformers_version": "4.30.2"}, f, indent=2)
    with open(os.path.join(model_dir, "vocab.json"), "w") as f:
        json.dump({p: i for i, p in enumerate(vocab)}, f, ensure_ascii=False, indent=2)
    if not shared:
        with open(os.path.join(model_dir, "target_vocab.json"), "w") as f:
            json.dump({p: i for i, p in enumerate(tgt_vocab)}, f, ensure_ascii=False, indent=2)

    w = {}
    def lin(name, o, i):
        w[name + ".weight"] = torch.randn(o, i) * (2.0 / math.sqrt(i))
        w[name + ".bias"] = torch.randn(o) * 0.1
    def ln(name):
        w[name + ".weight"] = 1.0 + 0.1 * torch.randn(d)
        w[name + ".bias"] = 0.02 * torch.randn(d)
    # Scales chosen so that outputs vary (in tokens and length) rather than repeat one token.
    emb = 0.05 if shared else 0.4  # (shared: scaled by sqrt(d) = 8) positions then matter as much
    if shared:
        w["model.shared.weight"] = torch.randn(V, d) * emb
    else:
        w["model.encoder.embed_tokens.weight"] = torch.randn(V, d) * emb
        w["model.decoder.embed_tokens.weight"] = torch.randn(Vt, d) * emb
        w["lm_head.weight"] = torch.randn(Vt, d) * 0.4  # an untied output table
    w["final_logits_bias"] = torch.randn(1, Vt) * 0.3
    w["final_logits_bias"][0, cfg["eos_token_id"]] += 1.5  # some outputs end before the limit
    for side in ("encoder", "decoder"):
        w[f"model.{side}.embed_positions.weight"] = sinusoids(512, d)
        for i in range(layers):
            p = f"model.{side}.layers.{i}"
            for a in (("self_attn", "encoder_attn") if side == "decoder" else ("self_attn",)):
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    lin(f"{p}.{a}.{proj}", d, d)
                ln(f"{p}.{a}_layer_norm")
            lin(p + ".fc1", ffn, d)
            lin(p + ".fc2", d, ffn)
            ln(p + ".final_layer_norm")
    if shared:
        write_safetensors(os.path.join(model_dir, "model.safetensors"), w)
    else:  # the older upload form: torch.save of the state dict (zip archive + pickle)
        import collections
        torch.save(collections.OrderedDict(sorted(w.items())), os.path.join(model_dir, "pytorch_model.bin"))

    ref = Reference(w, cfg)
    ordinary = [i for i, p in enumerate(vocab) if p not in ("</s>", "<unk>", "<pad>")]
    fed = [[rng.choice(ordinary) for _ in range(rng.randint(3, 15))] + [cfg["eos_token_id"]]
           for _ in range(SENTENCES)]
    tgt_ordinary = [i for i, p in enumerate(tgt_vocab) if p not in ("</s>", "<unk>", "<pad>")]
    write_reference(ref_dir, ref, [s[:-1] for s in fed], fed, vocab, tgt_vocab, cfg["decoder_start_token_id"],
                    cfg["eos_token_id"], {cfg["pad_token_id"], cfg["decoder_start_token_id"]}, MAX_LEN, rng,
                    tgt_ordinary)

if __name__ == "__main__":
    main()
