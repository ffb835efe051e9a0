#!/usr/bin/python3
"""The same M-CNN training step in Debian's PyTorch, for bench_mcnn's comparison (not product code).

Builds M-CNN exactly as keel does (src/mcnn/net.cc: seven branches on a shared max-pool pyramid,
three 5x5 convs each, widths 16,16,16,32,32,32,64, pooled to H/64 x W/64, concat 208 -> 1x1 conv
1024 -> 2x2 max-pool -> FC 512 -> FC 13; Xavier-uniform weights, zero biases), channels_last,
SGD with Nesterov momentum 0.9 and weight decay 5e-4, cross-entropy in fp32. --precision bf16
wraps the forward pass in torch.autocast("cpu", dtype=torch.bfloat16). Trains --warmup steps,
then times --steps steps on one fixed random batch and prints

    pytorch: precision P batch B median_s S peak_rss_mb M steps s1,s2,...

Run it with tcmalloc preloaded (LD_PRELOAD=libtcmalloc_minimal.so.4): glibc malloc makes a
full-resolution step ~10x slower (shared/MEASURED.md).
"""
import argparse, resource, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTHS = [16, 16, 16, 32, 32, 32, 64]


class Mcnn(nn.Module):
    def __init__(self, height, width, classes=13):
        super().__init__()
        self.branches = nn.ModuleList()
        for w in WIDTHS:
            layers, c = [], 3
            for _ in range(3):
                layers += [nn.Conv2d(c, w, 5, stride=1, padding=2), nn.ReLU()]
                c = w
            self.branches.append(nn.Sequential(*layers))
        self.fuse = nn.Conv2d(sum(WIDTHS), 1024, 1)
        self.fc1 = nn.Linear(1024 * (height // 128) * (width // 128), 512)
        self.fc2 = nn.Linear(512, classes)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.xavier_uniform_(p)

    def forward(self, x):
        outs, level = [], x
        for b, branch in enumerate(self.branches):
            if b > 0:
                level = F.max_pool2d(level, 2)
            y = branch(level)
            k = 1 << (len(WIDTHS) - 1 - b)
            if k > 1:
                y = F.max_pool2d(y, k)
            outs.append(y)
        z = F.max_pool2d(F.relu(self.fuse(torch.cat(outs, 1))), 2)
        z = z.contiguous().flatten(1)  # NCHW order, as keel
        return self.fc2(F.relu(self.fc1(z)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net = Mcnn(a.height, a.width).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, a.height, a.width).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 13, (a.batch,))
    bf16 = a.precision == "bf16"

    def step():
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("pytorch: precision %s batch %d median_s %.6f peak_rss_mb %.1f steps %s"
          % (a.precision, a.batch, statistics.median(times), peak_mb,
             ",".join("%.4f" % t for t in times)), flush=True)


if __name__ == "__main__":
    main()
