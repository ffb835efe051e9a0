#!/usr/bin/python3
"""The same Transformer in Debian's PyTorch, for bench_nmt's fp32 comparison (not product code).

Reads a keel model file (docs/nmt_model_format.md), builds the encoder-decoder with the same
math (pre/post norm, sqrt(d) embedding scale, sinusoidal positions, tied output), and runs the
bench workload: source sentences of min..max random tokens (Python's RNG, same distribution as
keel's), sorted by length into batches, greedy decoding of exactly --target-len tokens with a
self-attention KV cache and cross-attention K/V computed once. Prints "pytorch tok/s: X".
"""
import argparse, math, random, struct, time, zlib

import torch
import torch.nn.functional as F


def read_model(path):
    b = open(path, "rb").read()
    if b[:8] != b"KEELNMT\0":
        raise SystemExit("%s: not a keel model file" % path)
    (body,) = struct.unpack_from("<Q", b, 12)
    if zlib.crc32(b[:20 + body]) != struct.unpack_from("<I", b, 20 + body)[0]:
        raise SystemExit("%s: checksum mismatch" % path)
    o = 20
    cfg = struct.unpack_from("<8If4I", b, o)
    o += 13 * 4
    keys = ["enc", "dec", "d", "heads", "ffn", "sv", "tv", "flags", "eps", "pad", "bos", "eos", "unk"]
    c = dict(zip(keys, cfg))

    def u32():
        nonlocal o
        (v,) = struct.unpack_from("<I", b, o)
        o += 4
        return v

    def string():
        nonlocal o
        n = u32()
        s = b[o:o + n].decode()
        o += n
        return s
    for _ in range(u32()):  # vocabularies
        for _ in range(u32()):
            string()
    tensors = {}
    for _ in range(u32()):
        name = string()
        dtype, rank = b[o], b[o + 1]
        o += 2
        dims = struct.unpack_from("<%dQ" % rank, b, o)
        o += 8 * rank
        n = math.prod(dims)
        if dtype == 1:
            scales = torch.frombuffer(bytearray(b[o:o + 4 * dims[0]]), dtype=torch.float32)
            o += 4 * dims[0]
            q = torch.frombuffer(bytearray(b[o:o + n]), dtype=torch.int8).float().reshape(dims)
            o += n
            t = q / scales.reshape(-1, *([1] * (rank - 1)))
        else:
            t = torch.frombuffer(bytearray(b[o:o + 4 * n]), dtype=torch.float32).reshape(dims)
            o += 4 * n
        tensors[name] = t
    return c, tensors


class Model:
    def __init__(self, c, t):
        self.c, self.t = c, t
        self.pre = bool(c["flags"] & 1)
        self.d, self.h = c["d"], c["heads"]
        self.scale = math.sqrt(self.d) if c["flags"] & 16 else 1.0
        self.emb = t["encoder.embed.weight"]
        self.temb = t.get("decoder.embed.weight", self.emb)
        self.out_w = t.get("decoder.output.weight", self.temb)
        self.out_b = t.get("decoder.output.bias")
        pos = torch.arange(1024).unsqueeze(1).double()
        i = torch.arange(0, self.d, 2).double()
        ang = pos / torch.pow(10000.0, i / self.d)
        pe = torch.zeros(1024, self.d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang)
        self.pe = pe.float()

    def lin(self, x, p):
        return F.linear(x, self.t[p + ".weight"], self.t.get(p + ".bias"))

    def norm(self, x, p):
        return F.layer_norm(x, (self.d,), self.t[p + ".weight"], self.t[p + ".bias"], self.c["eps"])

    def heads(self, x):  # [B, T, d] -> [B, h, T, dh]
        B, T, _ = x.shape
        return x.view(B, T, self.h, self.d // self.h).transpose(1, 2)

    def attend(self, q, k, v, mask):
        s = q @ k.transpose(-1, -2) / math.sqrt(self.d // self.h)
        if mask is not None:
            s = s.masked_fill(mask, float("-inf"))
        o = torch.softmax(s, -1) @ v
        B, H, T, dh = o.shape
        return o.transpose(1, 2).reshape(B, T, H * dh)

    def sub(self, x, name, fn):
        if self.pre:
            return x + fn(self.norm(x, name))
        return self.norm(x + fn(x), name)

    def encode(self, ids, mask):
        x = self.emb[ids] * self.scale + self.pe[: ids.shape[1]]
        m = mask[:, None, None, :]
        for i in range(self.c["enc"]):
            p = "encoder.layers.%d." % i
            x = self.sub(x, p + "self_attn_norm", lambda y: self.lin(self.attend(
                self.heads(self.lin(y, p + "self_attn.q_proj")), self.heads(self.lin(y, p + "self_attn.k_proj")),
                self.heads(self.lin(y, p + "self_attn.v_proj")), m), p + "self_attn.out_proj"))
            x = self.sub(x, p + "ffn_norm", lambda y: self.lin(F.relu(self.lin(y, p + "ffn.fc1")), p + "ffn.fc2"))
        return self.norm(x, "encoder.final_norm") if self.pre else x

    def greedy(self, ids, mask, steps):
        mem = self.encode(ids, mask)
        m = mask[:, None, None, :]
        B = ids.shape[0]
        cross = []
        for i in range(self.c["dec"]):
            p = "decoder.layers.%d.cross_attn." % i
            cross.append((self.heads(self.lin(mem, p + "k_proj")), self.heads(self.lin(mem, p + "v_proj"))))
        cache = [None] * self.c["dec"]
        tok = torch.full((B,), self.c["bos"], dtype=torch.long)
        out = []
        for t in range(steps):
            x = (self.temb[tok] * self.scale + self.pe[t]).unsqueeze(1)
            for i in range(self.c["dec"]):
                p = "decoder.layers.%d." % i

                def self_attn(y):
                    k, v = self.heads(self.lin(y, p + "self_attn.k_proj")), self.heads(self.lin(y, p + "self_attn.v_proj"))
                    if cache[i] is not None:
                        k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                    cache[i] = (k, v)
                    return self.lin(self.attend(self.heads(self.lin(y, p + "self_attn.q_proj")), k, v, None),
                                    p + "self_attn.out_proj")
                x = self.sub(x, p + "self_attn_norm", self_attn)
                x = self.sub(x, p + "cross_attn_norm", lambda y: self.lin(self.attend(
                    self.heads(self.lin(y, p + "cross_attn.q_proj")), cross[i][0], cross[i][1], m),
                    p + "cross_attn.out_proj"))
                x = self.sub(x, p + "ffn_norm", lambda y: self.lin(F.relu(self.lin(y, p + "ffn.fc1")), p + "ffn.fc2"))
            if self.pre:
                x = self.norm(x, "decoder.final_norm")
            logits = F.linear(x[:, 0], self.out_w, self.out_b)
            logits[:, [self.c["pad"], self.c["bos"], self.c["eos"]]] = float("-inf")  # min = max length
            tok = logits.argmax(-1)
            out.append(tok)
        return torch.stack(out, 1)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--model", required=True)
    for k, v in (("sentences", 256), ("min-len", 10), ("max-len", 40), ("target-len", 32),
                 ("batch", 64), ("threads", 2), ("seed", 2026)):
        a.add_argument("--" + k, type=int, default=v)
    a.add_argument("--stdin", action="store_true",
                   help="check mode: translate lines of 'wK' tokens (random models) from stdin")
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    c, t = read_model(args.model)
    m = Model(c, t)
    if args.stdin:
        import sys
        with torch.inference_mode():
            for line in sys.stdin:
                ids = torch.tensor([[int(w[1:]) for w in line.split()] + [c["eos"]]])
                out = m.greedy(ids, ids == c["pad"], args.target_len)[0]
                print(" ".join("w%d" % i for i in out.tolist()))
        return
    rng = random.Random(args.seed)
    src = [[rng.randrange(4, c["sv"]) for _ in range(rng.randint(args.min_len, args.max_len))] + [c["eos"]]
           for _ in range(args.sentences)]
    src.sort(key=len)
    batches = [src[i:i + args.batch] for i in range(0, len(src), args.batch)]

    def run(bs):
        n = 0
        for b in bs:
            L = max(map(len, b))
            ids = torch.tensor([s + [c["pad"]] * (L - len(s)) for s in b])
            mask = ids == c["pad"]
            n += m.greedy(ids, mask, args.target_len).numel()
        return n
    with torch.inference_mode():
        run(batches[:1])  # warm-up
        t0 = time.perf_counter()
        tokens = run(batches)
        dt = time.perf_counter() - t0
    print("pytorch %s, %d threads: %d target tokens in %.2f s" % (torch.__version__, args.threads, tokens, dt))
    print("pytorch tok/s: %.1f" % (tokens / dt))


if __name__ == "__main__":
    main()
