// Time to interactive of the web app's first page on localhost, in headless Chromium:
// a relay serving web-app/dist, N cold loads (a fresh browser context each: no cache),
// from navigation start to the app's `phiveil-interactive` performance mark (set when
// the first view is mounted and its handlers are live). Also the bytes transferred.
// Usage: node bench/webapp-tti.mjs [runs]   (scripts/bench-web.sh builds and runs it)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Relay } from '../test/relay.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.PHIVEIL_WEB_DIST || path.resolve(here, '../../web-app/dist');
const runs = Number(process.argv[2] ?? 10);

const relay = await Relay.start({ staticDir: dist });
const browser = await chromium.launch({
  executablePath: process.env.PHIVEIL_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
});
const samples = [];
try {
  for (let i = 0; i < runs; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    let bytes = 0;
    page.on('response', async (r) => {
      const len = Number((await r.allHeaders())['content-length'] ?? 0);
      bytes += len;
    });
    await page.goto(`${relay.base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const mark = performance.getEntriesByName('phiveil-interactive')[0];
      return { tti: mark.startTime, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };
    });
    samples.push({ ...t, bytes });
    await ctx.close();
  }
} finally {
  await browser.close();
  relay.stop();
}
const median = (k) => {
  const v = samples.map((s) => s[k]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
console.log(`web app first page, ${runs} cold loads on 127.0.0.1 (headless Chromium):`);
console.log(`  time to interactive: median ${median('tti').toFixed(0)} ms (min ${Math.min(...samples.map((s) => s.tti)).toFixed(0)}, max ${Math.max(...samples.map((s) => s.tti)).toFixed(0)})`);
console.log(`  DOMContentLoaded: median ${median('dcl').toFixed(0)} ms; load: median ${median('load').toFixed(0)} ms`);
console.log(`  transferred: ${median("bytes")} bytes (content-length; the relay serves precompressed gzip)`);
