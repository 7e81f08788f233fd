// The npm package's web build in real headless Chromium: the embedding example page,
// and interop of browser-made messages with the official AWS Encryption SDKs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { serve } from '../scripts/serve.mjs';
import { launch } from './chromium.mjs';
import { keyringFor, encrypt as sdkEncrypt, decrypt as sdkDecrypt, COMMIT_SUITE } from './peers/esdk_node_peer.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const www = path.resolve(here, '..');
const KEY_B64 = Buffer.alloc(32, 0x11).toString('base64');
const SPEC = { namespace: 'phiveil-interop', name: 'patient-key-1', key_b64: KEY_B64 };
const CTX = { patient: 'p-0001', 'pätient': 'Zoë ✓', '日本': '東京' };

let server, url, browser, page;
const consoleErrors = [];

before(async () => {
  ({ server, url } = await serve(www));
  browser = await launch();
  page = await browser.context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${url}/examples/portal.html`);
  await page.waitForSelector('body[data-ready="true"]');
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('example page encrypts and decrypts a record in the browser', async () => {
  await page.click('#encrypt');
  const out = await page.textContent('#output');
  assert.match(out, /ESDK message, \d+ bytes, suite 0x0478/);
  assert.ok(!out.includes('123-45-6789'));
  await page.click('#decrypt');
  assert.match(await page.textContent('#output'), /123-45-6789/);
  assert.match(await page.textContent('#status'), /Decrypted/);
});

test('example page field-level encryption leaves other fields readable', async () => {
  await page.click('#fields');
  const sealed = JSON.parse(await page.textContent('#output'));
  assert.ok(sealed.patient.ssn.startsWith('phv1:'));
  assert.match(sealed.visit.recorded, /^\d{4}-\d{2}-\d{2}$/);
  await page.click('#decrypt');
  assert.equal(JSON.parse(await page.textContent('#output')).patient.ssn, '123-45-6789');
});

test('a context mismatch is shown as an error, not a blank page', async () => {
  await page.click('#encrypt');
  await page.fill('#patient', 'p-0002');
  await page.click('#decrypt');
  assert.match(await page.textContent('#status'), /ContextMismatch/);
  await page.fill('#patient', 'p-0001');
});

test('browser-made messages decrypt with the official SDKs, and theirs in the browser', async () => {
  const sizes = [0, 1, 4095, 4096, 4097, 3 * 4096, 20000];
  const made = await page.evaluate(
    async ({ keyB64, ctx, sizes }) => {
      const p = await import('../pkg/web/phiveil_core.js');
      const key = Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0));
      const kr = p.Keyring.rawAes('phiveil-interop', 'patient-key-1', key);
      return sizes.map((n) => {
        const pt = new Uint8Array(n).map((_, i) => (i * 7) & 255);
        const m = p.encrypt(kr, pt, ctx, { frameLength: 4096 });
        return btoa(Array.from(m, (b) => String.fromCharCode(b)).join(''));
      });
    },
    { keyB64: KEY_B64, ctx: CTX, sizes },
  );
  const expected = sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 255)));
  if (process.env.PHIVEIL_SKIP_PEERS !== '1') {
    const kr = keyringFor(SPEC);
    for (const [i, b64] of made.entries()) {
      const { plaintext, messageHeader } = await sdkDecrypt(kr, Buffer.from(b64, 'base64'));
      assert.deepEqual(Buffer.from(plaintext), expected[i]);
      assert.deepEqual({ ...messageHeader.encryptionContext }, CTX);
    }
    const py = process.env.PHIVEIL_PYTHON ?? `${process.env.HOME}/.cache/phiveil/venv/bin/python`;
    const r = spawnSync(py, [path.resolve(www, '../tests/peers/esdk_peer.py')], {
      input: JSON.stringify({ op: 'decrypt', key: SPEC, cases: made.map((c) => ({ ciphertext_b64: c })) }),
    });
    const answer = JSON.parse(r.stdout.toString());
    answer.results.forEach((res, i) => {
      assert.equal(res.error, undefined, `${answer.sdk}: ${res.error}`);
      assert.deepEqual(Buffer.from(res.plaintext_b64, 'base64'), expected[i]);
    });
    // client-node -> browser
    const theirs = [];
    for (const pt of expected) {
      const { result } = await sdkEncrypt(kr, pt, { encryptionContext: CTX, suiteId: COMMIT_SUITE, frameLength: 4096 });
      theirs.push(Buffer.from(result).toString('base64'));
    }
    const back = await page.evaluate(
      async ({ keyB64, ctx, theirs }) => {
        const p = await import('../pkg/web/phiveil_core.js');
        const key = Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0));
        const kr = p.Keyring.rawAes('phiveil-interop', 'patient-key-1', key);
        return theirs.map((b64) => {
          const m = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          return btoa(Array.from(p.decrypt(kr, m, ctx).plaintext, (b) => String.fromCharCode(b)).join(''));
        });
      },
      { keyB64: KEY_B64, ctx: CTX, theirs },
    );
    back.forEach((b64, i) => assert.deepEqual(Buffer.from(b64, 'base64'), expected[i]));
  }
});

test('negative cases in the browser give typed errors', async () => {
  const codes = await page.evaluate(async () => {
    const p = await import('../pkg/web/phiveil_core.js');
    const kr = p.Keyring.rawAes('ns', 'k', new Uint8Array(32).fill(9));
    const m = p.encrypt(kr, new Uint8Array(300), { patient: 'p' }, { frameLength: 64 });
    const code = (f) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return e.code;
      }
    };
    const flipped = new Set();
    for (let i = 0; i < m.length; i++) {
      const bad = m.slice();
      bad[i] ^= 1;
      flipped.add(code(() => p.decrypt(kr, bad)));
    }
    return {
      flipped: [...flipped],
      truncated: code(() => p.decrypt(kr, m.slice(0, m.length - 1))),
      trailing: code(() => p.decrypt(kr, new Uint8Array([...m, 1]))),
      context: code(() => p.decrypt(kr, m, { patient: 'q' })),
    };
  });
  assert.ok(!codes.flipped.includes('no error'), JSON.stringify(codes));
  assert.equal(codes.truncated, 'Truncated');
  assert.equal(codes.trailing, 'TrailingBytes');
  assert.equal(codes.context, 'ContextMismatch');
  assert.deepEqual(consoleErrors, []);
});
