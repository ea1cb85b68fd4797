#!/usr/bin/python3
"""bench/nn: Nova's ONNX engine against ONNX Runtime and PyTorch.

Same ONNX files for Nova and ONNX Runtime (exported by
tools/nn/export_models.py at full size into BUILD/bench-nn-models), the
same networks, weights and input shape in PyTorch (eager, torch.no_grad,
the module the file was exported from), 1 and 2 threads, each engine in its
own process.  Reports the median latency of RUNS timed runs after WARMUP,
Nova's GFLOP/s, the ratios ORT/Nova and PyTorch/Nova (above 1: Nova is
faster), and each process's peak resident memory (from wait4).  With one
thread it also reports CPU time per run, which a busy shared machine
disturbs much less than wall time: ONNX Runtime's and PyTorch's user +
system time of the process over the timed runs (measured inside), Nova's
user time from wait4, the difference between a process timing RUNS runs
and one timing 1, over RUNS - 1 (system time is left out there: page
faults while loading make it vary by more than a run costs; a run
allocates nothing).

With --pairs P (P > 1) it times Nova and ONNX Runtime P - 1 more times,
alternating one process of each, and reports the median and range of the
P per-pair ratios: on a shared machine whose load comes in bursts, two
processes run seconds apart see closer conditions than the whole table.
Every row records the load average before it.

Usage: /usr/bin/python3 bench/nn/run.py [BUILD] [--models a,b]
       [--threads 1,2] [--runs N] [--warmup N] [--size full|small]
       [--pairs P]
Needs: BUILD/src/app/nova/nova, bench/nn/node_modules (npm install
--ignore-scripts), python3-torch and python3-torchvision.  Writes
bench/results/nn.json and prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "nn"))

TORCH_SNIPPET = r"""
import json, sys, time, torch
sys.path.insert(0, {tools!r})
import export_models as em
torch.set_num_threads({threads})
torch.manual_seed(20240601)
gen = torch.Generator().manual_seed(7)
model, shape = em.build({name!r}, {size!r})
model.eval()
with torch.no_grad():
    em.randomise_norms(model, gen)
    x = torch.randn(*shape, generator=gen)
    for _ in range({warmup}):
        model(x)
    ms = []
    c0 = time.process_time()
    for _ in range({runs}):
        t0 = time.perf_counter()
        model(x)
        ms.append((time.perf_counter() - t0) * 1e3)
    cpu_ms = (time.process_time() - c0) * 1e3 / {runs}
ms.sort()
k = len(ms)
med = ms[k // 2] if k % 2 else 0.5 * (ms[k // 2 - 1] + ms[k // 2])
print(json.dumps({{"median_ms": med, "min_ms": ms[0], "max_ms": ms[-1],
                  "cpu_ms": cpu_ms}}))
"""


def run(cmd, env=None, cpu=None):
    """Run a command; return (stdout, peak RSS in MB); cpu, a list, gets
    the process's user CPU seconds."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err.decode()[-2000:]}")
    if cpu is not None:
        cpu.append(usage.ru_utime)
    return out.decode(), usage.ru_maxrss / 1024.0


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON in output: " + text[-500:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="resnet50,densenet121,unet2d_r231,"
                    "unet3d,cls3d,segresnet")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--size", default="full", choices=["full", "small"])
    ap.add_argument("--pairs", type=int, default=1)
    args = ap.parse_args()
    nova = os.path.join(args.build, "src", "app", "nova", "nova")
    models_dir = os.path.join(args.build, f"bench-nn-models-{args.size}")
    subprocess.run(["/usr/bin/python3",
                    os.path.join(ROOT, "tools", "nn", "export_models.py"),
                    "--size", args.size, models_dir], check=True,
                   stderr=subprocess.DEVNULL)
    import numpy as np
    results = []
    env = dict(os.environ)
    for name in args.models.split(","):
        onnx_path = os.path.join(models_dir, name + ".onnx")
        x_path = os.path.join(models_dir, name + ".input.npy")
        shape = np.load(x_path, mmap_mode="r").shape
        for t in [int(s) for s in args.threads.split(",")]:
            env["NOVA_THREADS"] = str(t)
            env["OMP_NUM_THREADS"] = str(t)
            # What `nova nn` sets by itself (see src/app/nova/cmd_nn.c);
            # explicit here so every engine sees the same environment.
            env["OMP_WAIT_POLICY"] = "PASSIVE"
            row = {"model": name, "threads": t,
                   "shape": "x".join(map(str, shape)),
                   "load_before": os.getloadavg()[0]}
            nova_cmd = [nova, "nn", "bench", onnx_path, "--input", x_path,
                        "--threads", str(t), "--warmup", str(args.warmup),
                        "--json"]
            cpu = []
            out, rss = run(nova_cmd + ["--runs", str(args.runs)], env, cpu)
            nv = last_json(out)
            if t == 1 and args.runs > 1:
                run(nova_cmd + ["--runs", "1"], env, cpu)
                row["nova_cpu_ms"] = ((cpu[0] - cpu[1]) * 1e3 /
                                      (args.runs - 1))
            row.update(nova_ms=nv["median_ms"], gflop=nv["gflop"],
                       nova_gflops=nv["gflops_per_s"], nova_rss_mb=rss,
                       nova_arena_mb=nv["arena_bytes"] / 1e6)
            out, rss = run(["node", os.path.join(HERE, "ort_bench.js"),
                            onnx_path, ",".join(map(str, shape)), str(t),
                            str(args.runs), str(args.warmup)], env)
            ov = last_json(out)
            row.update(ort_ms=ov["median_ms"], ort_rss_mb=rss)
            if "nova_cpu_ms" in row:
                row["ort_cpu_ms"] = ov["cpu_ms"]
            code = TORCH_SNIPPET.format(tools=os.path.join(ROOT, "tools", "nn"),
                                        threads=t, name=name, size=args.size,
                                        warmup=args.warmup, runs=args.runs)
            out, rss = run(["/usr/bin/python3", "-c", code], env)
            tv = last_json(out)
            row.update(torch_ms=tv["median_ms"], torch_rss_mb=rss)
            if "nova_cpu_ms" in row:
                row["torch_cpu_ms"] = tv["cpu_ms"]
            row["ort_over_nova"] = row["ort_ms"] / row["nova_ms"]
            row["torch_over_nova"] = row["torch_ms"] / row["nova_ms"]
            pairs = [(row["nova_ms"], row["ort_ms"])]
            for _ in range(args.pairs - 1):
                nv = last_json(run(nova_cmd + ["--runs", str(args.runs)],
                                   env)[0])
                ov = last_json(run(["node", os.path.join(HERE, "ort_bench.js"),
                                    onnx_path, ",".join(map(str, shape)),
                                    str(t), str(args.runs), str(args.warmup)],
                                   env)[0])
                pairs.append((nv["median_ms"], ov["median_ms"]))
            row["pairs"] = pairs
            row["load_after"] = os.getloadavg()[0]
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "nn.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("| model | input | threads | Nova ms | GFLOP/s | ORT ms | PyTorch ms "
          "| ORT/Nova | PyTorch/Nova | peak RSS MB Nova / ORT / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['shape']} | {r['threads']} | "
              f"{r['nova_ms']:.1f} | {r['nova_gflops']:.1f} | "
              f"{r['ort_ms']:.1f} | {r['torch_ms']:.1f} | "
              f"{r['ort_over_nova']:.2f} | {r['torch_over_nova']:.2f} | "
              f"{r['nova_rss_mb']:.0f} / {r['ort_rss_mb']:.0f} / "
              f"{r['torch_rss_mb']:.0f} |")
    if args.pairs > 1:
        print()
        print("| model | threads | load before / after | pairs | Nova ms "
              "median | ORT ms median | ORT/Nova median of pairs (min - max) "
              "|")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            ratios = sorted(o / n for n, o in r["pairs"])
            nov = sorted(n for n, _ in r["pairs"])
            ort = sorted(o for _, o in r["pairs"])
            k = len(ratios)

            def med(v):
                return v[k // 2] if k % 2 else 0.5 * (v[k // 2 - 1] +
                                                      v[k // 2])
            print(f"| {r['model']} | {r['threads']} | "
                  f"{r['load_before']:.1f} / {r['load_after']:.1f} | {k} | "
                  f"{med(nov):.1f} | {med(ort):.1f} | {med(ratios):.2f} "
                  f"({ratios[0]:.2f} - {ratios[-1]:.2f}) |")
    ones = [r for r in results if "nova_cpu_ms" in r]
    if ones:
        print()
        print("| model | 1 thread: CPU ms/run Nova | ORT | PyTorch | ORT/Nova "
              "|")
        print("|---|---|---|---|---|")
        for r in ones:
            print(f"| {r['model']} | {r['nova_cpu_ms']:.1f} | "
                  f"{r['ort_cpu_ms']:.1f} | {r['torch_cpu_ms']:.1f} | "
                  f"{r['ort_cpu_ms'] / r['nova_cpu_ms']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
