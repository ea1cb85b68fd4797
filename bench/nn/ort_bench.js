// ort_bench.js - time one ONNX model with ONNX Runtime's CPU provider
// (npm onnxruntime-node, installed with --ignore-scripts), for bench/nn.
//
//   node ort_bench.js MODEL.onnx SHAPE THREADS RUNS WARMUP
//
// SHAPE is the input shape, comma-separated; the input is a fixed
// pseudo-random pattern.  Prints one JSON line: median/min/max ms and the
// process's CPU time per timed run (user + system, all threads), which a
// busy shared machine disturbs less than wall time.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [model, shapeArg, threads, runs, warmup] = process.argv.slice(2);
  const shape = shapeArg.split(',').map(Number);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, shape);
  for (let i = 0; i < Number(warmup); i++) await session.run(feeds);
  const ms = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < Number(runs); i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  ms.sort((a, b) => a - b);
  const k = ms.length;
  const median = k % 2 ? ms[(k - 1) / 2] : (ms[k / 2 - 1] + ms[k / 2]) / 2;
  console.log(JSON.stringify({median_ms: median, min_ms: ms[0],
                              max_ms: ms[k - 1], runs: k,
                              cpu_ms: (cpu.user + cpu.system) / 1e3 / k,
                              version: ort.env.versions ? ort.env.versions.common : ''}));
}

main().catch((e) => { console.error(e); process.exit(1); });
