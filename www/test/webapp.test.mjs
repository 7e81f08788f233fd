// The web app (web-app/, built into web-app/dist by scripts/build-web.sh) end to end in
// real headless Chromium against a real relay serving it at /: patient, clinician and
// operator in separate browser contexts, each view's main flow, a refused access shown
// as an error, and the privacy check: every request body (and URL) any context sent is
// recorded, and none may contain a record field, note text, PII string or study value
// the test typed. Screenshots of every view go to target/screenshots (or
// $PHIVEIL_SCREENSHOTS); scripts/screenshots.sh regenerates them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseHeader } from 'phiveil';
import { Relay, PASSWORD } from './relay.mjs';
import { Actors, launchChromium, signIn, tab } from './app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = process.env.PHIVEIL_WEB_DIST || path.join(root, 'web-app/dist');
const shots = process.env.PHIVEIL_SCREENSHOTS || path.join(root, 'target/screenshots');
const WAIT = { timeout: Number(process.env.PHIVEIL_E2E_WAIT_MS ?? 180_000) };

// What the test types. None of it may leave a browser in the clear.
const RECORD = {
  title: 'Cardiology follow-up Quokka',
  finding: 'Paroxysmal atrial fibrillation Wombat',
  notes: 'Seen with her husband John Carter; call 617-555-0199 or john.carter@example.org. Palpitations after stairs, Numbat dosage unchanged.',
};
const SECOND = { title: 'Lipid panel Platypus', finding: 'LDL 3.1 mmol/L Echidna', notes: 'Fasting sample, Bilby lab.' };
const PII = ['John Carter', '617-555-0199', 'john.carter@example.org'];
const TYPED_TEXT = [
  RECORD.title, RECORD.finding, 'Palpitations after stairs', 'Numbat', ...PII,
  SECOND.title, SECOND.finding, 'Bilby', 'Quokka', 'Wombat', 'Platypus', 'Echidna',
];
const VALUES = { a: { heart_rate: 72, pain: 3 }, b: { heart_rate: 131, pain: 7 } };

let relay, browser, actors;
const context = (who, viewport) => actors.open(who, viewport);

// At 360 px nothing may stick out sideways (tables scroll inside their cards).
async function assertFits(page) {
  const { over, culprits } = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const culprits = [...document.querySelectorAll('body *')]
      .filter((e) => (e.getBoundingClientRect().right > w + 1 || e.scrollWidth > w + 1) && !e.parentElement.closest('.scroll'))
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}#${e.id} (${Math.round(e.getBoundingClientRect().right)}/${e.scrollWidth})`);
    return { over: document.documentElement.scrollWidth - w, culprits };
  });
  assert.ok(over <= 0, `the page is ${over}px wider than the 360px viewport: ${culprits.join(', ')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}


before(async () => {
  assert.ok(existsSync(path.join(dist, 'phiveil_web_bg.wasm')), `${dist} is missing: run scripts/build-web.sh (scripts/test.sh does)`);
  mkdirSync(shots, { recursive: true });
  relay = await Relay.start({
    users: [['operator-e2e', 'operator'], ['dr-ada', 'clinician'], ['dr-bob', 'clinician'], ['pat-second', 'patient']],
    staticDir: dist,
  });
  browser = await launchChromium();
  actors = new Actors(browser, relay.base);
});

after(async () => {
  await browser?.close();
  relay?.stop();
});

test('patient, clinician and operator flows in Chromium; nothing typed leaves in the clear', async () => {
  try {
    await flows();
  } catch (e) {
    for (const [who, page] of actors.pages) await shot(page, `failed-${who}`).catch(() => {});
    if (actors.consoleErrors.length) console.log(`browser console errors:\n${actors.consoleErrors.join('\n')}`);
    throw e;
  }
});

async function flows() {
  const dr = await context('clinician');
  const pat = await context('patient');
  await shot(pat, 'signin');

  // A wrong password is an error on the page.
  await pat.fill('#login-user', 'nobody');
  await pat.fill('#login-pass', 'not the password');
  await pat.click('form >> text=Sign in');
  await pat.waitForSelector('[data-testid=error]');

  // Clinician: invite a patient.
  await signIn(dr, 'dr-ada');
  await tab(dr, 'Invite a patient');
  await dr.click('text=Create an invitation code');
  const code = (await dr.textContent('[data-testid=invitation-code]', WAIT)).trim();
  assert.ok(code.length >= 8, code);
  await shot(dr, 'clinician-invite');

  // Patient: enroll with the code.
  await pat.fill('#enroll-code', code);
  await pat.fill('#enroll-user', 'pat-e2e');
  await pat.fill('#enroll-pass', PASSWORD);
  await pat.click('button:has-text("Enroll")');
  await pat.waitForSelector('[data-testid=who]');
  assert.match(await pat.textContent('[data-testid=who]'), /pat-e2e · patient/);
  // A second use of the code is refused.
  const reuse = await relay.api(null, 'POST', '/v1/enroll', { code, username: 'pat-x', password: PASSWORD });
  assert.notEqual(reuse.status, 200);

  // Patient: write a record, see the PII preview, encrypt and upload.
  await pat.selectOption('#rec-type', 'visit-note');
  await pat.fill('#rec-title', RECORD.title);
  await pat.fill('#rec-date', '2026-11-20');
  await pat.fill('#rec-finding', RECORD.finding);
  await pat.fill('#rec-notes', RECORD.notes);
  const preview = await pat.textContent('[data-testid=pii-preview]');
  assert.match(preview, /PHONE → mask/);
  assert.match(preview, /EMAIL → mask/);
  assert.match(preview, /PERSON → mask/);
  // The preview shows exactly the de-identified copy, made from every free-text field.
  const redacted = await pat.textContent('[data-testid=redacted]');
  for (const p of PII) assert.ok(!redacted.includes(p), `${p} survives redaction: ${redacted}`);
  assert.ok(!redacted.includes('2026-11-20') && redacted.includes('2026'), `the date is kept to its year: ${redacted}`);
  await shot(pat, 'patient-records-preview');
  await pat.click('text=Encrypt and upload');
  await pat.waitForSelector('text=/Encrypted in this browser and uploaded/', WAIT);
  // A second record, imported from a file.
  await pat.selectOption('#rec-type', 'visit-note');
  await pat.setInputFiles('#rec-import', {
    name: 'lipids.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ ...SECOND, date: '2026-11-21' })),
  });
  await pat.waitForFunction(() => document.querySelector('#rec-title').value.startsWith('Lipid panel'));
  await pat.click('text=Encrypt and upload');
  await pat.waitForFunction(() => document.querySelectorAll('[data-testid=records] tbody tr').length === 2, null, WAIT);
  // A FHIR Observation keeps its value and unit when imported (not uploaded).
  await pat.setInputFiles('#rec-import', {
    name: 'hr.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({
      resourceType: 'Observation', status: 'final', effectiveDateTime: '2026-11-22T08:00:00Z',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' },
      valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    })),
  });
  await pat.waitForFunction(() => document.querySelector('#rec-finding').value === 'Heart rate: 72 /min', null, WAIT);
  await pat.fill('#rec-title', '');
  await pat.fill('#rec-finding', '');
  // Decrypt both here: the patient's own record keeps what they wrote (their own phone
  // number included); the de-identified copy inside it has none of it.
  await pat.click('[data-testid=records] >> text=Open >> nth=0');
  await pat.waitForSelector('[data-testid=decrypted]', WAIT);
  await pat.click('[data-testid=records] >> text=Open >> nth=0');
  await pat.waitForFunction(() => document.querySelectorAll('[data-testid=decrypted]').length === 2, null, WAIT);
  const mine = (await pat.$$eval('[data-testid=decrypted]', (els) => els.map((e) => e.textContent))).join(' ');
  assert.ok(mine.includes('Quokka') && mine.includes('Platypus'), mine);
  for (const p of PII) assert.ok(mine.includes(p), `the patient's own record lost ${p}: ${mine}`);
  const copies = (await pat.$$eval('[data-testid=shared-copy]', (els) => els.map((e) => e.textContent))).join(' ');
  assert.ok(copies.length > 0, 'each record carries its de-identified copy');
  for (const p of PII) assert.ok(!copies.includes(p), `${p} in a shared copy: ${copies}`);
  await shot(pat, 'patient-records');

  // Patient: share visit notes with dr-ada.
  await tab(pat, 'Sharing');
  await pat.waitForSelector('#grant-who');
  await pat.selectOption('#grant-who', { label: 'dr-ada' });
  await pat.selectOption('#grant-type', 'visit-note');
  await pat.click('button:has-text("Grant")');
  await pat.waitForSelector('text=dr-ada may read visit-note', WAIT);
  await shot(pat, 'patient-sharing');

  // Clinician: the granted records, decrypted in the browser.
  await tab(dr, "Patients' records");
  await dr.waitForSelector('[data-testid=records]', WAIT);
  await dr.click('[data-testid=records] >> text=Open >> nth=0');
  const seen = await dr.textContent('[data-testid=decrypted]', WAIT);
  assert.ok(seen.includes('Wombat') || seen.includes('Echidna'), seen);
  await shot(dr, 'clinician-records');

  // Patient revokes; the clinician's next open is refused and shown as an error.
  await pat.click('button:has-text("Revoke")');
  await pat.waitForSelector('text=You have not shared anything.', WAIT);
  await dr.click('[data-testid=records] >> text=Open');
  const refused = await dr.textContent('[data-testid=records] [data-testid=error]', WAIT);
  assert.match(refused, /HTTP 403/);
  await shot(dr, 'clinician-refused');

  // Five refused unwraps by dr-bob raise an alert (audit rule).
  const patient = await relay.login('pat-e2e');
  const recs = (await relay.api(patient.token, 'GET', '/v1/records')).body;
  const rec = (await relay.api(patient.token, 'GET', `/v1/records/${recs[0].id}`)).body;
  const message = await relay.get(rec.download);
  const header = Buffer.from(message.subarray(0, parseHeader(message).headerLength)).toString('base64');

  // Operator: audit search, chain verification, live alerts, metrics, accounts.
  // The operator signs in and switches tabs with the keyboard only.
  const op = await context('operator');
  await op.focus('#login-user');
  await op.keyboard.type('operator-e2e');
  await op.keyboard.press('Tab');
  await op.keyboard.type(PASSWORD);
  await op.keyboard.press('Enter');
  await op.waitForSelector('[data-testid=who]');
  await op.waitForSelector('[data-testid=audit]', WAIT);
  await op.selectOption('#a-outcome', 'refused');
  await op.click('button:has-text("Search")');
  await op.waitForSelector('[data-testid=audit] tr.refused', WAIT);
  const refusedRows = await op.textContent('[data-testid=audit]');
  assert.match(refusedRows, /refused/);
  await op.click('text=Verify the hash chain');
  assert.match(await op.textContent('[data-testid=verify]', WAIT), /Chain intact/);
  await shot(op, 'operator-audit');
  await op.focus('.tabs >> text="Alerts"');
  await op.keyboard.press('Enter');
  await op.waitForSelector('text=/Connected/', WAIT);
  const bob = await relay.login('dr-bob');
  for (let i = 0; i < 5; i++) {
    const r = await relay.api(bob.token, 'POST', '/v1/keys/unwrap', { header });
    assert.equal(r.status, 403);
  }
  assert.match(await op.textContent('[data-testid=alerts]', WAIT), /refused unwraps/);
  await shot(op, 'operator-alerts');
  await tab(op, 'Metrics');
  await op.waitForSelector('[data-testid=metrics]', WAIT);
  assert.match(await op.textContent('[data-testid=metrics]'), /\/v1\/records/);
  await shot(op, 'operator-metrics');
  await tab(op, 'Accounts');
  await op.fill('#u-name', 'dr-cy');
  await op.fill('#u-pass', PASSWORD);
  await op.click('button:has-text("Create")');
  await op.waitForSelector('text=Account dr-cy (clinician) created.', WAIT);
  await shot(op, 'operator-accounts');

  // Study: the clinician declares it and runs the key ceremony in the browser.
  await tab(dr, 'Studies');
  await dr.fill('#study-title', 'Resting heart rate');
  await dr.fill('#study-k', '2');
  // The proven encoding: the form widens heart_rate's 20-250 to the nearest range of
  // 2^k values and says what that bounds (pain, with patient-side noise, keeps its own).
  assert.match(await dr.textContent('[data-testid=widened]'), /heart_rate: declared as 20–275 .*at most 255/);
  assert.doesNotMatch(await dr.textContent('[data-testid=widened]'), /pain/);
  await dr.click('text=Declare the study');
  await dr.waitForSelector('[data-testid=study-card]', WAIT);
  await dr.fill('#ceremony-pass', 'a long study passphrase');
  await dr.click('text=Run the key ceremony');
  await dr.waitForSelector('[data-testid=ceremony-progress]', WAIT);
  await shot(dr, 'clinician-ceremony');
  await dr.waitForSelector('[data-testid=study-state]:has-text("open")', WAIT);
  console.log(`ceremony in Chromium: ${await dr.textContent('[data-testid=ceremony-timings]', WAIT)}`);

  // Two patients submit values, encrypted and proven in their browsers.
  const second = await context('patient-2', { width: 360, height: 780 });
  await signIn(second, 'pat-second');
  for (const [page, v, name] of [[pat, VALUES.a, 'patient-studies'], [second, VALUES.b, 'patient-studies-360px']]) {
    await tab(page, 'Studies');
    await page.waitForSelector('[data-testid=study-submit]', WAIT);
    const inputs = page.locator('[data-testid=study-submit] .fields input');
    await inputs.nth(0).fill(String(v.heart_rate));
    await inputs.nth(1).fill(String(v.pain));
    await page.click('text=Encrypt and submit');
    console.log(`${name}: ${await page.textContent('text=/the relay verified the proof/', WAIT)}`);
    assert.match(await page.textContent('[data-testid=budget]'), /Spent: ε = 1; left: ε = 3/);
    if (name.endsWith('360px')) await assertFits(page);
    await shot(page, name);
  }
  // A second submission to the same study is refused in the browser, before the
  // ledger is charged, and shown (the relay would answer 409 as well).
  const inputs = pat.locator('[data-testid=study-submit] .fields input');
  await inputs.nth(0).fill('80');
  await inputs.nth(1).fill('1');
  await pat.click('text=Encrypt and submit');
  assert.match(await pat.textContent('[data-testid=study-submit] [data-testid=error]', WAIT), /DuplicateSubmission/);
  assert.match(await pat.textContent('[data-testid=budget]'), /Spent: ε = 1; left: ε = 3/);

  // What left the patient's browser.
  await tab(pat, 'What left this browser');
  const outbox = await pat.textContent('[data-testid=outbox]');
  assert.match(outbox, /ciphertext: ESDK v2 message/);
  assert.match(outbox, /ciphertext: TFHE compact ciphertext list/);
  assert.match(await pat.textContent('[data-testid=outbox-privacy]'), /ε = 1 spent, ε = 3 left/);
  await shot(pat, 'patient-outbox');

  // The clinician releases and decrypts; the totals are exact for the exact field.
  await dr.click('text=Close and release the totals');
  await dr.click('text=Yes, close and release');
  await dr.waitForSelector('[data-testid=study-state]:has-text("released")', WAIT);
  await dr.click('text=Decrypt the totals here');
  await dr.waitForSelector('[data-testid=results]', WAIT);
  assert.equal((await dr.textContent('[data-testid=sum-heart_rate]')).trim(), String(VALUES.a.heart_rate + VALUES.b.heart_rate));
  assert.match(await dr.textContent('[data-testid=sum-pain]'), /noisy/);
  assert.ok((await dr.locator('[data-testid=charts] svg').count()) >= 3);
  await shot(dr, 'clinician-results');
  await dr.setViewportSize({ width: 360, height: 780 });
  await dr.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await assertFits(dr);
  await shot(dr, 'clinician-results-360px');

  // Every view at 360 px: nothing sticks out sideways.
  const views = [
    [pat, 'patient', ['Records', 'Sharing', 'Studies', 'What left this browser']],
    [op, 'operator', ['Audit log', 'Alerts', 'Metrics', 'Accounts']],
    [dr, 'clinician', ["Patients' records", 'Invite a patient', 'Studies']],
  ];
  for (const [page, who, tabs] of views) {
    await page.setViewportSize({ width: 360, height: 780 });
    for (const t of tabs) {
      await tab(page, t);
      await page.waitForTimeout(300);
      await assertFits(page);
      await shot(page, `${who}-${t.toLowerCase().replace(/[^a-z]+/g, '-')}-360px`);
    }
  }

  // At 360 px an opened record reads across the screen (its own row, not a squeezed
  // column), and the privacy preview comes before the upload button.
  await tab(pat, 'Records');
  await pat.click('[data-testid=records] >> text=Open >> nth=0', WAIT);
  await pat.waitForSelector('[data-testid=decrypted]', WAIT);
  const dds = await pat.$$eval('[data-testid=decrypted] dd', (els) => els.map((d) => ({ w: d.clientWidth, sw: d.scrollWidth, text: d.textContent.slice(0, 30) })));
  for (const d of dds) assert.ok(d.w >= 150 && d.sw <= d.w + 1, `an opened record's text is squeezed or clipped at 360 px: ${JSON.stringify(dds)}`);
  await assertFits(pat);
  await shot(pat, 'patient-record-opened-360px');
  const previewFirst = await pat.evaluate(() => document.querySelector('[data-testid=pii-preview]').getBoundingClientRect().top
    < document.querySelector('.submit-bar button').getBoundingClientRect().top);
  assert.ok(previewFirst, 'the upload button comes before the privacy preview');

  // The privacy check.
  assert.ok(actors.sent.length > 30, `only ${actors.sent.length} requests recorded`);
  // No CDN, font service or other origin: the app runs offline on localhost.
  for (const r of actors.sent) assert.ok(r.url.startsWith(`${relay.base}/`), `request to another origin: ${r.url}`);
  const values = Object.values(VALUES).flatMap((v) => Object.values(v));
  // The proof pool's coordination (the proof's partial multi-scalar multiplications,
  // from the patient's proof workers) goes to the coordinator service worker in the
  // same browser: every such request was answered there, none reached the network.
  const isPool = (r) => new URL(r.url).pathname.startsWith('/__wasm_par__/');
  const pool = actors.sent.filter(isPool);
  assert.ok(pool.some((r) => r.who.startsWith('patient')), 'the patients\' proofs used the worker pool');
  for (const r of pool) {
    assert.ok((await r.req.response())?.fromServiceWorker(), `${r.method} ${r.url} left the browser`);
  }
  for (const r of actors.sent.filter((x) => !isPool(x))) {
    const text = r.body.toString('latin1');
    for (const t of TYPED_TEXT) {
      assert.ok(!text.includes(t) && !r.url.includes(encodeURIComponent(t)) && !r.url.includes(t),
        `${r.who} sent "${t}" in ${r.method} ${r.url}`);
    }
    // Numbers are readable only in text bodies: a patient's JSON may carry sizes only.
    if (r.who.startsWith('patient') && r.body.length && r.body[0] === 0x7b) {
      const numbers = [];
      const walk = (v, key) => {
        if (typeof v === 'number') numbers.push([key, v]);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
      };
      walk(JSON.parse(r.body.toString('utf8')), '');
      for (const [key, n] of numbers) {
        assert.equal(key, 'size', `${r.who} sent ${key}=${n} in ${r.method} ${r.url}`);
        assert.ok(!values.includes(n) || n > 250, `${r.who} sent a study value in ${r.url}`);
      }
    }
  }
  // The ciphertext uploads are what the outbox says they are.
  const puts = actors.sent.filter((r) => r.method === 'PUT' && r.who.startsWith('patient'));
  assert.ok(puts.length >= 4);
  for (const p of puts) {
    const esdk = p.body[0] === 0x02 && p.body.readUInt16BE(1) === 0x0478;
    assert.ok(esdk || p.url.includes('/studies/'), `unexpected upload ${p.url}`);
  }
  // Signing out returns to the sign-in page (the operator's alert feed stops).
  await op.click('button:has-text("Sign out")');
  await op.waitForSelector('#login-user');
  assert.deepEqual(actors.unexpectedErrors(), []);
}
