// Runs the browser benchmark in headless Chromium and prints a table.
// Usage: node bench/run.mjs [--min-ms 500] [--json out.json]
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { serve } from '../scripts/serve.mjs';
import { launch } from '../test/chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const www = path.resolve(here, '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const minMs = Number(opt('--min-ms', 500));

const require = createRequire(import.meta.url);
require('esbuild').buildSync({
  entryPoints: [path.join(here, 'client-browser-entry.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  minify: true,
  define: { global: 'globalThis' },
  outfile: path.join(here, 'dist/client-browser.js'),
  logLevel: 'warning',
});
const sdkVersion = require('@aws-crypto/client-browser/package.json').version;

const { server, url } = await serve(www, 0, { isolate: true });
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${url}/bench/index.html?minMs=${minMs}`);
  await page.waitForFunction(() => window.__bench, null, { timeout: 600_000 });
  const bench = await page.evaluate(() => window.__bench);
  if (!bench.ok) throw new Error(bench.error);
  console.log(`phiveil (wasm) vs @aws-crypto/client-browser ${sdkVersion} — ${bench.userAgent}`);
  console.log('phiveil wasm = synchronous API, all in wasm; phiveil async = encryptAsync/decryptAsync (wasm + WebCrypto for frames of messages >= 16 KiB).');
  console.log('| workload | op | bytes | phiveil wasm ms | phiveil async ms | client-browser ms | wasm MB/s | async MB/s | client-browser MB/s | wasm / SDK speed | async / SDK speed |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const f = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(v >= 1 ? 2 : 4));
  for (const r of bench.results) {
    console.log(`| ${r.workload} | ${r.op} | ${r.bytes} | ${f(r.ms.sync)} | ${f(r.ms.async)} | ${f(r.ms.sdk)} | ${f(r.MBps.sync)} | ${f(r.MBps.async)} | ${f(r.MBps.sdk)} | ${r.ratio.sync.toFixed(2)}× | ${r.ratio.async.toFixed(2)}× |`);
  }
  console.log('\nCore work in wasm (no browser peer):');
  for (const e of bench.extra) console.log(`- ${e.what}: ${f(e.value)} ${e.unit} (${f(e.ms)} ms per call)`);
  const out = opt('--json');
  if (out) fs.writeFileSync(out, JSON.stringify({ sdkVersion, ...bench }, null, 2));
} finally {
  await browser.close();
  server.close();
}
