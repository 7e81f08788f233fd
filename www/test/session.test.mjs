// Sliding sessions in headless Chromium against a relay whose tokens live 12 s: a
// patient who keeps working for longer than a token's life stays signed in (the app
// trades the token for a fresh one), an idle tab shows a countdown that "Stay signed
// in" dismisses, a tab left idle is signed out with a sentence saying why, and signing
// back in finds what the tab held (its request log) still there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Relay } from './relay.mjs';
import { Actors, launchChromium, signIn, tab } from './app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.PHIVEIL_WEB_DIST || path.join(here, '../../web-app/dist');
const TTL = 12;

let relay, browser, actors;

before(async () => {
  assert.ok(existsSync(path.join(dist, 'phiveil_web_bg.wasm')), `${dist} is missing: run scripts/build-web.sh`);
  relay = await Relay.start({
    users: [['pat-slide', 'patient']],
    staticDir: dist,
    serveArgs: ['--token-ttl-secs', String(TTL)],
  });
  browser = await launchChromium();
  actors = new Actors(browser, relay.base);
});

after(async () => {
  await browser?.close();
  relay?.stop();
});

const session = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('phiveil.session') ?? 'null'));

test('an active session outlives its token; an idle one is warned, then signed out', async () => {
  const page = await actors.open('patient');
  await signIn(page, 'pat-slide');
  const first = await session(page);
  assert.ok(first?.token);

  // Active for twice the token's lifetime: a key press every second.
  const until = Date.now() + 2 * TTL * 1000;
  while (Date.now() < until) {
    await page.keyboard.press('Shift');
    await page.waitForTimeout(1000);
  }
  const later = await session(page);
  assert.ok(later, 'signed out while active');
  assert.notEqual(later.token, first.token, 'the token was never refreshed');
  assert.ok(later.expires_at > first.expires_at);
  // The refreshed token works: a signed-in request from the page succeeds.
  const status = await page.evaluate(async (t) => (await fetch('/v1/me', { headers: { authorization: `Bearer ${t}` } })).status, later.token);
  assert.equal(status, 200);
  await page.waitForSelector('[data-testid=who]');
  assert.equal(await page.isVisible('[data-testid=idle-warning]'), false);

  // Idle: the countdown appears; "Stay signed in" keeps the session.
  await page.waitForSelector('[data-testid=idle-warning]', { timeout: (TTL + 5) * 1000 });
  assert.match(await page.textContent('[data-testid=idle-warning]'), /signed out in \d+ s/);
  const before = (await session(page)).token;
  await page.click('[data-testid=idle-warning] >> text=Stay signed in');
  await page.waitForSelector('[data-testid=idle-warning]', { state: 'detached', timeout: 5000 });
  assert.notEqual((await session(page)).token, before);

  // Left idle to the end: signed out, with a sentence that says why.
  await page.waitForSelector('#login-user', { timeout: (2 * TTL + 5) * 1000 });
  assert.match(await page.textContent('.notice'), /signed out after a period without activity/);

  // Signing back in as the same user: what the tab held is still there.
  await signIn(page, 'pat-slide');
  await tab(page, 'What left this browser');
  assert.match(await page.textContent('main'), /POST \/v1\/auth\/refresh/);
  assert.deepEqual(actors.unexpectedErrors(), []);
});
