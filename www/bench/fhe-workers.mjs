// Proof time of a patient's submission in headless Chromium, with 1 and 2 proof
// workers (run by scripts/bench-fhe.sh): the web app's own TFHE worker
// (web-app/static/fhe-worker.js) on a page served by a relay, proving the 8-field study
// of the native benchmark in the proven encoding. With 2, the page registers the proof
// pool's coordinator service worker and the TFHE worker starts tfhe's cross-origin
// worker pool (wasm-par-mq) first, as the app does. Keys and CRS are made once in Node
// with the same bundle.
// Prints the medians, the speedup, and what it implies for 4 workers (Amdahl's law with
// the parallel share the 2-worker speedup measures).
// Usage: node bench/fhe-workers.mjs [runs per setting, default 3]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Relay } from '../test/relay.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.PHIVEIL_WEB_DIST || path.resolve(here, '../../web-app/dist');
const runs = Number(process.argv[2] ?? 3);
const { FheStudy } = createRequire(import.meta.url)('../pkg/fhe/node/phiveil_fhe.js');

// fhe_bench.rs's study, ranges widened to lo + 2^k values (the proven encoding).
const field = (name, lo, hi, bins = [], atLeast = []) => ({ name, lo, hi, bins, at_least: atLeast });
const spec = {
  id: 'st-bench',
  min_cohort: 2,
  encoding: 'proven',
  fields: [
    field('heart_rate', 20, 275, [60, 100, 140]),
    field('spo2', 50, 113, [], [90, 95]),
    field('systolic', 60, 315, [], [140]),
    field('diastolic', 30, 157, [], [90]),
    field('temperature_dc', 340, 467, [], [380]),
    field('smoker', 0, 1),
    field('pain', 0, 15, [], [7]),
    field('score', 1, 8, [], [4]),
  ],
};
const values = [72, 97, 128, 80, 371, 1, 6, 4];
const keys = new FheStudy(spec).keyCeremony(true);
const b64 = (u8) => Buffer.from(u8).toString('base64');
const pk = b64(keys.publicKey());
const crs = b64(keys.crs());
if (process.env.FHE_WORKERS_DEBUG) fs.writeFileSync('/tmp/fw-keys.json', JSON.stringify({ pk, crs }));

const relay = await Relay.start({ staticDir: dist });
const browser = await chromium.launch({
  executablePath: process.env.PHIVEIL_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
});
const results = {};
try {
  for (const workers of [1, 2]) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('console', (m) => process.env.FHE_WORKERS_DEBUG && console.log(`[page ${workers}] ${m.text()}`));
    page.on('crash', () => console.log(`[page ${workers}] crashed`));
    ctx.on('weberror', (e) => console.log(`[page ${workers}] ${e.error()}`));
    await page.goto(`${relay.base}/`);
    results[workers] = await page.evaluate(async ({ spec, pk, crs, values, workers, runs }) => {
      const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
      if (workers > 1) {
        await navigator.serviceWorker.register('/coordinator.js');
        await navigator.serviceWorker.ready;
        if (!navigator.serviceWorker.controller) {
          await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
        }
      }
      const w = new Worker('/fhe-worker.js', { type: 'module' });
      let next = 0;
      const call = (op, args) => new Promise((resolve, reject) => {
        const id = ++next;
        const on = (e) => {
          if (e.data.id !== id || e.data.progress) return;
          w.removeEventListener('message', on);
          if (e.data.ok) resolve(e.data.result);
          else reject(new Error(e.data.error.message));
        };
        w.addEventListener('message', on);
        w.postMessage({ id, op, args });
      });
      const used = workers > 1 ? await call('pool', { workers }) : 1;
      const ms = [];
      for (let i = 0; i < runs; i++) {
        const r = await call('submit', { spec, publicKey: bytes(pk), crs: bytes(crs), patient: `p-${i}`, values, ledger: null });
        ms.push(r.ms);
      }
      w.terminate();
      return { used, ms };
    }, { spec, pk, crs, values, workers, runs });
    await ctx.close();
  }
} finally {
  await browser.close();
  relay.stop();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const t1 = median(results[1].ms);
const t2 = median(results[2].ms);
const s2 = t1 / t2;
// Amdahl: T(n) = T1·(1 − p + p/n); the 2-worker speedup gives p = 2·(1 − 1/S2).
const p = Math.min(1, Math.max(0, 2 * (1 - 1 / s2)));
const t4 = t1 * (1 - p + p / 4);
console.log(`proof of the 8-field submission (proven encoding) in headless Chromium, ${runs} runs each, on ${os.availableParallelism()} cores:`);
console.log(`  1 worker:  median ${(t1 / 1000).toFixed(2)} s (${results[1].ms.join(', ')} ms)`);
console.log(`  2 workers: median ${(t2 / 1000).toFixed(2)} s (${results[2].ms.join(', ')} ms; pool of ${results[2].used})`);
console.log(`  speedup ${s2.toFixed(2)}x; parallel share p = ${p.toFixed(2)}; expected with 4 workers on 4 cores: ${(t4 / 1000).toFixed(2)} s`);
