"""Greedy and beam search over a reference model's logits, for the import fixtures (tests only).

`ref` has encode(source ids) -> memory and logits(memory, prefix) -> [len(prefix), vocab]; the
prefix starts with the decoder start token. The search is keel's, written from its definition:
banned tokens (padding, the start token) are never chosen; greedy takes the first of equal
maxima; beam search keeps the best 2K (hypothesis, token) continuations by total log-probability
(ties: lower hypothesis, then lower token), EOS ends a hypothesis (score / length^penalty), the
others continue until K have ended or the length limit; the best ended one wins.
"""
import torch


def greedy(ref, src, start, eos, banned, max_len):
    memory, out = ref.encode(src), []
    for _ in range(max_len):
        row = ref.logits(memory, [start] + out)[-1].clone()
        for b in banned:
            row[b] = float("-inf")
        tok = int(torch.argmax(row))  # the first of equal maxima
        if tok == eos:
            break
        out.append(tok)
    return out


def beam(ref, src, start, eos, banned, max_len, k=4, length_penalty=1.0):
    memory = ref.encode(src)
    live, done = [(0.0, [])], []
    for t in range(max_len):
        cands = []
        for i, (score, hyp) in enumerate(live):
            lp = torch.log_softmax(ref.logits(memory, [start] + hyp)[-1].double(), dim=-1)
            for b in banned:
                lp[b] = float("-inf")
            top = torch.topk(lp, min(2 * k, lp.numel()))
            for v, tok in zip(top.values.tolist(), top.indices.tolist()):
                cands.append((score + v, i, tok))
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        nxt = []
        for score, i, tok in cands[: 2 * k]:
            if len(nxt) == k:
                break
            hyp = live[i][1]
            if tok == eos:
                done.append((score / (len(hyp) + 1) ** length_penalty, hyp))
            else:
                nxt.append((score, hyp + [tok]))
        live = nxt
        if t + 1 == max_len:
            done += [(s / len(h) ** length_penalty, h) for s, h in live]
        if len(done) >= k or t + 1 == max_len or not live:
            break
    return max(done, key=lambda d: d[0])[1] if done else []


def write_reference(ref_dir, ref, shown, fed, src_vocab, tgt_vocab, start, eos, banned, max_len, rng,
                    tgt_ordinary, n_logits=6):
    """The files the import tests compare keel with, in `ref_dir`: sources.txt (the sources as
    vocabulary pieces, `shown`), greedy.txt and beam4.txt (the reference's outputs for the
    encoder inputs `fed`), and logits.f32 + logits.json (teacher-forced logits of the first
    `n_logits` sentences on random targets of 8 pieces: every weight and position takes part,
    whatever the decoder would choose)."""
    import json
    import os
    import struct
    with torch.no_grad():
        outs = {"greedy.txt": [greedy(ref, s, start, eos, banned, max_len) for s in fed],
                "beam4.txt": [beam(ref, s, start, eos, banned, max_len) for s in fed]}
        with open(os.path.join(ref_dir, "sources.txt"), "w") as f:
            for ids in shown:
                f.write(" ".join(src_vocab[i] for i in ids) + "\n")
        for name, rows in outs.items():
            with open(os.path.join(ref_dir, name), "w") as f:
                for ids in rows:
                    f.write(" ".join(tgt_vocab[i] for i in ids) + "\n")
        shapes = []
        with open(os.path.join(ref_dir, "logits.f32"), "wb") as f:
            for src in fed[:n_logits]:
                tgt = [rng.choice(tgt_ordinary) for _ in range(8)]
                rows = ref.logits(ref.encode(src), [start] + tgt)
                f.write(struct.pack(f"<{rows.numel()}f", *rows.flatten().tolist()))
                shapes.append({"source": src, "target": tgt, "rows": rows.shape[0], "vocab": rows.shape[1]})
        with open(os.path.join(ref_dir, "logits.json"), "w") as f:
            json.dump(shapes, f)
