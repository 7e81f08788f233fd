// A study's key ceremony in headless Chromium whose opening fails once (the first
// POST …/open is answered with a relay failure): the page says what happened in a
// sentence, and running the ceremony again uploads fresh keys under new object keys
// and opens the study.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Relay } from './relay.mjs';
import { Actors, launchChromium, signIn, tab } from './app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.PHIVEIL_WEB_DIST || path.join(here, '../../web-app/dist');
const WAIT = { timeout: Number(process.env.PHIVEIL_E2E_WAIT_MS ?? 180_000) };

let relay, browser, actors;

before(async () => {
  assert.ok(existsSync(path.join(dist, 'phiveil_web_bg.wasm')), `${dist} is missing: run scripts/build-web.sh`);
  relay = await Relay.start({ users: [['dr-retry', 'clinician'], ['op-retry', 'operator']], staticDir: dist });
  browser = await launchChromium();
  actors = new Actors(browser, relay.base);
});

after(async () => {
  await browser?.close();
  relay?.stop();
});

test('a ceremony whose opening fails once is run again to success', async () => {
  const dr = await actors.open('clinician');
  await signIn(dr, 'dr-retry');
  await tab(dr, 'Studies');
  await dr.fill('#study-title', 'Retry me');
  await dr.fill('#study-k', '2');
  await dr.click('text=Declare the study');
  await dr.waitForSelector('[data-testid=study-card]', WAIT);

  let failed = 0;
  await dr.route('**/v1/studies/*/open', async (route) => {
    if (failed++ === 0) {
      await route.fulfill({
        status: 503,
        contentType: 'application/problem+json',
        body: JSON.stringify({ type: 'urn:phiveil:problem:internal', title: 'Service Unavailable', status: 503, detail: 'x' }),
      });
    } else {
      await route.continue();
    }
  });
  await dr.fill('#ceremony-pass', 'a long study passphrase');
  await dr.click('text=Run the key ceremony');
  const error = await dr.textContent('[data-testid=study-card] [data-testid=error]', WAIT);
  assert.match(error, /^The relay could not complete the request\. .*\(Support code: internal, HTTP 503\.\)$/);
  assert.equal(failed, 1);

  await dr.click('text=Run the key ceremony');
  await dr.waitForSelector('[data-testid=study-state]:has-text("open")', WAIT);
  assert.equal(failed, 2);
  // Two ceremonies' keys went up; the relay kept both attempts apart.
  const op = await relay.login('op-retry');
  const keys = await relay.api(op.token, 'GET', '/v1/audit?action=study-keys');
  assert.equal(keys.body.filter((r) => r.outcome === 'allowed').length, 2);
  assert.deepEqual(actors.unexpectedErrors().filter((e) => !/status of 503/.test(e)), []);
});
