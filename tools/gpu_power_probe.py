#!/usr/bin/env python3
"""Measures one GPU's power while a training-like loop alternates compute and idle phases.

Used once to check keel's GPU power model (docs/power.md, "Checked against an H100"): NVML is
sampled in a separate process as fast as it answers (instant power, the ~1 s averaged power, the
energy counter) while this process runs bf16 matmuls ("compute") and sleeps ("communication": the
GPU waits on the network) on a fixed schedule: idle, steps, square waves of 4 s ... 0.1 s period.
It writes the samples, the schedule as a keel timeline CSV and the metadata to OUTDIR.

    python3 tools/gpu_power_probe.py OUTDIR            # on a machine with an NVIDIA GPU
    python3 tools/gpu_power_probe.py OUTDIR --dry      # CPU and a fake sensor: checks the script
    python3 tools/gpu_power_probe.py OUTDIR --overshoot
        # second schedule: 1 s of compute after idle gaps of 20 ms .. 2 s (shuffled, 6 each), then
        # 20 s of 300 ms compute / 100 ms idle iterations: how the onset overshoot depends on the
        # idle time before it
"""
import json, math, multiprocessing as mp, os, sys, time


def now():
    return time.time()  # wall clock, shared with nvidia-smi's timestamps and the sampler process


def sampler(path, stop, ready, dry):
    if dry:
        read = lambda: (float("nan"), float("nan"), 0, 0, 0)
    else:
        import pynvml as nv
        nv.nvmlInit()
        h = nv.nvmlDeviceGetHandleByIndex(0)
        fi = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", 186)

        def field():
            try:
                v = nv.nvmlDeviceGetFieldValues(h, [fi])[0]
            except nv.NVMLError:  # a driver without the instant-power field
                return float("nan")
            if v.nvmlReturn != 0:
                return float("nan")
            t = v.valueType
            x = {0: v.value.dVal, 1: v.value.uiVal, 2: v.value.ulVal, 3: v.value.ullVal,
                 4: v.value.sllVal}.get(t, v.value.uiVal)
            return x / 1000.0

        n = [0]
        clk = [0, 0]

        def read():
            n[0] += 1
            if n[0] % 25 == 1:  # slow sensors, rarely
                clk[0] = nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)
                clk[1] = nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
            return (field(), nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
                    nv.nvmlDeviceGetTotalEnergyConsumption(h), clk[0], clk[1])
    rows = []
    ready.set()
    while not stop.is_set():
        t = now()
        rows.append((t, *read()))
        if dry:
            time.sleep(0.005)
    with open(path, "w") as f:
        f.write("time_s,power_instant_w,power_avg_w,energy_mj,sm_mhz,temp_c\n")
        for r in rows:
            f.write("%.6f,%.3f,%.3f,%d,%d,%d\n" % r)


def main():
    out = sys.argv[1]
    dry = "--dry" in sys.argv
    os.makedirs(out, exist_ok=True)
    import torch
    dev = "cpu" if dry else "cuda"
    n = 512 if dry else 8192
    dt = torch.float32 if dry else torch.bfloat16
    a = torch.randn(n, n, device=dev, dtype=dt)
    b = torch.randn(n, n, device=dev, dtype=dt)
    c = torch.empty(n, n, device=dev, dtype=dt)
    sync = (lambda: None) if dry else torch.cuda.synchronize
    for _ in range(20):
        torch.matmul(a, b, out=c)
    sync()
    t = now()
    reps = 50
    for _ in range(reps):
        torch.matmul(a, b, out=c)
    sync()
    mm_s = (now() - t) / reps
    src = torch.empty(256 << 20, device=dev, dtype=torch.uint8)
    dst = torch.empty_like(src)

    stop, ready = mp.Event(), mp.Event()
    p = mp.Process(target=sampler, args=(os.path.join(out, "nvml.csv"), stop, ready, dry))
    p.start()
    ready.wait()
    t0 = now()
    records = []  # (iteration, phase, start, end)
    segments = []
    it = [0]

    def compute(sec):
        s = now()
        for _ in range(max(1, round(sec / mm_s))):
            torch.matmul(a, b, out=c)
        sync()
        records.append((it[0], "compute", s - t0, now() - t0))

    def idle(sec):
        s = now()
        time.sleep(sec)
        records.append((it[0], "comm", s - t0, now() - t0))
        it[0] += 1

    def segment(name, fn, **kw):
        s = now() - t0
        fn()
        segments.append({"name": name, "start_s": s, "end_s": now() - t0, **kw})

    scale = 0.1 if dry else 1.0
    if "--overshoot" in sys.argv:
        import random
        gaps = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0] * 6
        random.Random(7).shuffle(gaps)
        segment("idle", lambda: time.sleep(5 * scale))
        for g in gaps:
            segment("gap_%gs" % g, lambda: (idle(g * scale), compute(1.0 * scale)), gap_s=g)
        segment("idle", lambda: time.sleep(3 * scale))
        segment("iterations_300_100", lambda: [f() for _ in range(50) for f in
                                               (lambda: compute(0.3 * scale), lambda: idle(0.1 * scale))])
        segment("idle", lambda: time.sleep(5 * scale))
    else:
        def copy_phase():  # a memory-bound phase, like the copies of a collective
            end = now() + 4 * scale
            while now() < end:
                for _ in range(20):
                    dst.copy_(src)
                sync()
        full_schedule(segment, compute, idle, scale, copy_phase)
    stop.set()
    p.join()
    write_outputs(out, records, segments, t0, n, dt, mm_s, dry)


def full_schedule(segment, compute, idle, scale, copy_phase):
    segment("idle", lambda: time.sleep(8 * scale))
    segment("steps", lambda: [f() for _ in range(3)
                              for f in (lambda: compute(6 * scale), lambda: idle(6 * scale))],
            compute_s=6, idle_s=6)
    for period, cycles in ((4, 5), (2, 8), (1, 12), (0.5, 20), (0.25, 40), (0.1, 80)):
        segment("square_%gs" % period,
                lambda: [f() for _ in range(cycles) for f in
                         (lambda: compute(0.7 * period * scale), lambda: idle(0.3 * period * scale))],
                period_s=period, duty=0.7, cycles=cycles)
    segment("idle", lambda: time.sleep(3 * scale))

    segment("memcopy", copy_phase)
    segment("idle", lambda: time.sleep(8 * scale))


def write_outputs(out, records, segments, t0, n, dt, mm_s, dry):
    import torch
    with open(os.path.join(out, "timeline.csv"), "w") as f:
        f.write("rank,iteration,phase,start_s,end_s\n")
        for i, ph, s, e in records:
            f.write("0,%d,%s,%.6f,%.6f\n" % (i, ph, s, e))
    meta = {"t0_epoch_s": t0, "matmul": {"n": n, "dtype": str(dt), "seconds": mm_s,
                                         "tflops": 2 * n ** 3 / mm_s / 1e12},
            "segments": segments, "torch": torch.__version__}
    if not dry:
        import pynvml as nv
        nv.nvmlInit()
        h = nv.nvmlDeviceGetHandleByIndex(0)
        q = lambda f, *a: (lambda: f(h, *a))

        def safe(fn):
            try:
                v = fn()
                return v.decode() if isinstance(v, bytes) else v
            except Exception as e:  # a query this GPU or driver lacks
                return "unavailable: %s" % e
        meta["gpu"] = {
            "name": safe(q(nv.nvmlDeviceGetName)),
            "driver": safe(lambda: nv.nvmlSystemGetDriverVersion()),
            "power_limit_mw": safe(q(nv.nvmlDeviceGetPowerManagementLimit)),
            "enforced_limit_mw": safe(q(nv.nvmlDeviceGetEnforcedPowerLimit)),
            "limit_constraints_mw": safe(q(nv.nvmlDeviceGetPowerManagementLimitConstraints)),
            "default_limit_mw": safe(q(nv.nvmlDeviceGetPowerManagementDefaultLimit)),
            "max_sm_mhz": safe(q(nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_SM)),
        }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: v for k, v in meta.items() if k != "segments"}))


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
