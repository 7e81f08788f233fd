// Federated training end to end in real headless Chromium through the web app, against
// a real relay: the owner (a clinician) declares a training, runs the key ceremony in
// the browser, publishes the initial model; two sites (patient accounts, each in its
// own browser context) load their local CSV, compute DP-SGD updates in the browser and
// submit them encrypted and proven; the relay sums them under TFHE; the owner decrypts
// each round's sum in the browser, averages, evaluates on a held-out file and publishes
// the next model; the curves are drawn. Privacy check: no request from any browser
// carries a row of the sites' or the owner's files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Relay } from './relay.mjs';
import { Actors, launchChromium, signIn, tab } from './app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = process.env.PHIVEIL_WEB_DIST || path.join(root, 'web-app/dist');
const shots = process.env.PHIVEIL_SCREENSHOTS || path.join(root, 'target/screenshots');
const WAIT = { timeout: Number(process.env.PHIVEIL_E2E_WAIT_MS ?? 300_000) };

// The breast-cancer data, split with a seeded shuffle: 20 % held out by the owner, the
// rest split between two sites.
const [header, ...rows] = readFileSync(path.join(root, 'tests/data/wdbc.csv'), 'utf8').trim().split('\n');
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
const cut = Math.round(rows.length * 0.2);
const held = rows.slice(0, cut);
const train = rows.slice(cut);
const sites = [train.filter((_, i) => i % 2 === 0), train.filter((_, i) => i % 2 === 1)];
const dir = mkdtempSync(path.join(os.tmpdir(), 'phiveil-fl-'));
const file = (name, lines) => {
  const p = path.join(dir, name);
  writeFileSync(p, [header, ...lines].join('\n') + '\n');
  return p;
};
const files = { held: file('held-out.csv', held), a: file('site-a.csv', sites[0]), b: file('site-b.csv', sites[1]) };
// A row's first three cells: none may leave a browser.
const ROW_PREFIXES = rows.map((r) => r.split(',').slice(0, 3).join(','));

let relay, browser, actors;
const context = (who) => actors.open(who, { width: 1280, height: 900 });

before(async () => {
  assert.ok(existsSync(path.join(dist, 'phiveil_web_bg.wasm')), `${dist} is missing: run scripts/build-web.sh (scripts/test.sh does)`);
  mkdirSync(shots, { recursive: true });
  relay = await Relay.start({
    users: [['dr-fl', 'clinician'], ['site-a', 'patient'], ['site-b', 'patient']],
    staticDir: dist,
  });
  browser = await launchChromium();
  actors = new Actors(browser, relay.base);
});

after(async () => {
  await browser?.close();
  relay?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('federated training: owner and two sites in Chromium, updates summed under TFHE, curves drawn', async () => {
  try {
    await flow();
  } catch (e) {
    for (const [who, page] of actors.pages) await page.screenshot({ path: path.join(shots, `failed-training-${who}.png`), fullPage: true }).catch(() => {});
    if (actors.consoleErrors.length) console.log(`browser console errors:\n${actors.consoleErrors.join('\n')}`);
    throw e;
  }
});

async function contribute(page, name, round) {
  await tab(page, 'Studies');
  await tab(page, 'Federated training');
  await page.waitForSelector('[data-testid=training-contribute]', WAIT);
  await page.setInputFiles('[data-testid=training-data-file]', files[name]);
  await page.waitForSelector('[data-testid=csv-loaded]', WAIT);
  await page.click('text=Train here and submit the encrypted update');
  const msg = await page.textContent('[data-testid=training-submitted]', WAIT);
  assert.match(msg, new RegExp(`Round ${round}: .*the relay verified the proof`));
  console.log(`site ${name}: ${msg}`);
}

async function releaseAndPublish(dr, round, last) {
  // The card polls the round: both updates are summed under encryption as they arrive.
  await dr.waitForSelector(`[data-testid=round-progress]:has-text("Round ${round}: 2 updates folded")`, WAIT);
  await dr.click('text=Close and release the totals');
  await dr.click('text=Yes, close and release');
  await dr.waitForSelector('text=Decrypt, average and publish the next model', WAIT);
  if (last) await dr.check('[data-testid=training-publish] input[type=checkbox]');
  await dr.click('text=Decrypt, average and publish the next model');
}

async function flow() {
  const dr = await context('owner');
  await signIn(dr, 'dr-fl');
  await tab(dr, 'Federated training');
  await dr.fill('#training-title', 'Breast-cancer diagnosis');
  await dr.fill('#training-rounds', '2');
  await dr.fill('#training-clients', '2');
  await dr.fill('#training-min', '2');
  await dr.fill('#training-epsilon', '8');
  await dr.fill('#training-examples', String(train.length));
  await dr.setInputFiles('#training-reference', files.held);
  await dr.waitForSelector('[data-testid=csv-loaded]', WAIT);
  await dr.click('text=Start the training');
  await dr.waitForSelector('[data-testid=training-card]', WAIT);
  await dr.fill('#ceremony-pass', 'a long training passphrase');
  await dr.click('text=Run the key ceremony');
  await dr.waitForSelector('[data-testid=training-publish]', WAIT);
  console.log(`ceremony in Chromium: ${await dr.textContent('[data-testid=ceremony-timings]', WAIT)}`);
  await dr.setInputFiles('[data-testid=training-test-file]', files.held);
  await dr.click('text=Publish the initial model (zeros) and open round 1');
  await dr.waitForSelector('[data-testid=round-progress]:has-text("Round 1")', WAIT);

  const a = await context('site-a');
  await signIn(a, 'site-a');
  const b = await context('site-b');
  await signIn(b, 'site-b');

  for (const round of [1, 2]) {
    await contribute(a, 'a', round);
    await contribute(b, 'b', round);
    await releaseAndPublish(dr, round, round === 2);
    if (round === 1) await dr.waitForSelector('[data-testid=round-progress]:has-text("Round 2")', WAIT);
  }
  await dr.waitForSelector('[data-testid=training-state]:has-text("done")', WAIT);
  await dr.screenshot({ path: path.join(shots, 'clinician-training.png'), fullPage: true });

  // The relay's figures: three models (initial, after rounds 1 and 2), each round
  // charged with its two updates; the curves drawn.
  const metrics = dr.locator('[data-testid=training-metrics] tbody tr');
  assert.equal(await metrics.count(), 3);
  assert.equal(await dr.locator('[data-testid=training-curves] svg').count(), 4);
  const { token } = await relay.login('dr-fl');
  const { body: list } = await relay.api(token, 'GET', '/v1/trainings');
  assert.equal(list.length, 1);
  const [t] = list;
  assert.equal(t.state, 'done');
  assert.deepEqual(t.metrics.map((m) => m.folded), [0, 2, 2]);
  assert.ok(t.epsilon > 0 && t.epsilon <= 8, `ε ${t.epsilon}`);
  const acc = Number((await metrics.nth(2).locator('td').nth(4).textContent()).trim());
  console.log(`after two rounds: ${(await metrics.nth(2).textContent()).trim()}`);
  assert.ok(acc >= 0.8, `accuracy after two rounds ${acc}`);

  // Nothing of the files left a browser: no row (its first cells) in any request.
  for (const r of actors.sent) {
    const text = `${r.url}\n${r.body.toString('latin1')}`;
    for (const p of ROW_PREFIXES) assert.ok(!text.includes(p), `${r.who} sent a data row in ${r.url}`);
  }
  assert.ok(actors.sent.some((r) => r.who === 'site-a' && r.url.includes('/submissions')), 'site A submitted');
  assert.deepEqual(actors.unexpectedErrors(), []);
}
