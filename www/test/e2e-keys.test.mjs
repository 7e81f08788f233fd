// End-to-end keys in the web app, in real headless Chromium against a relay in its
// default key mode (end-to-end):
// - a patient and two clinicians make their key pairs in their browsers (the private key
//   non-extractable in IndexedDB), with passphrase backups on the relay;
// - the patient writes records, grants dr-ada (records already written are wrapped for
//   her key in the patient's browser), then dr-bob; both open them; each opens again on
//   a second device after restoring the key from its backup (a wrong passphrase fails);
// - revoking dr-ada stops her downloads, and a record written afterwards holds no entry
//   for her key;
// - the relay operator, holding the data directory (database, stored objects, every
//   master key and the escrow key) and the relay's debug log, cannot decrypt a record:
//   every key the directory holds fails, and neither the plaintext, the data keys
//   (derived here, independently of phiveil, from the patient's backup) nor the private
//   keys appear anywhere in it;
// - with escrow (a second relay, `--escrow`), the browser adds an entry for the KMS's
//   escrow key, and an operator's recovery opens the record and is audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as phiveil from 'phiveil';
import { Relay, PASSWORD } from './relay.mjs';
import { Actors, launchChromium, signIn, tab } from './app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = process.env.PHIVEIL_WEB_DIST || path.join(root, 'web-app/dist');
const shots = process.env.PHIVEIL_SCREENSHOTS || path.join(root, 'target/screenshots');
const WAIT = { timeout: Number(process.env.PHIVEIL_E2E_WAIT_MS ?? 180_000) };

const PASS = { pat: 'patient passphrase, long enough', ada: 'ada keeps this one safe', bob: 'bob keeps another one' };
const RECORDS = [
  { title: 'Rheumatology Kookaburra', finding: 'Gout flare Dugong', notes: 'Left knee, Cassowary protocol. Wife Marguerite Okafor, 617-555-0143.' },
  { title: 'Follow-up Bandicoot', finding: 'Uric acid Wallaroo', notes: 'Improving, Potoroo diet.' },
  { title: 'After revocation Quoll', finding: 'Stable Numbat', notes: 'Bettong review in May.' },
];
const TYPED = RECORDS.flatMap((r) => [r.title, r.finding, r.notes]);

let relay, browser, actors, logFile;

before(async () => {
  assert.ok(existsSync(path.join(dist, 'phiveil_web_bg.wasm')), `${dist} is missing: run scripts/build-web.sh (scripts/test.sh does)`);
  mkdirSync(shots, { recursive: true });
  logFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'phiveil-e2e-log-')), 'relay.log');
  relay = await Relay.start({
    users: [['operator-e2e', 'operator'], ['dr-ada', 'clinician'], ['dr-bob', 'clinician'], ['pat-e2e', 'patient']],
    staticDir: dist,
    keyMode: 'end-to-end',
    logFile,
  });
  browser = await launchChromium();
  actors = new Actors(browser, relay.base);
});

after(async () => {
  await browser?.close();
  relay?.stop();
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

async function run(steps) {
  try {
    await steps();
  } catch (e) {
    for (const [who, page] of actors.pages) await shot(page, `e2e-failed-${who}`).catch(() => {});
    if (actors.consoleErrors.length) console.log(`browser console errors:\n${actors.consoleErrors.join('\n')}`);
    throw e;
  }
}

async function setUpKey(page, passphrase) {
  await page.waitForSelector('#key-pass', WAIT);
  assert.match(await page.textContent('[data-testid=key-warning]'), /cannot|can no longer be opened by anyone/);
  await page.fill('#key-pass', passphrase);
  await page.fill('#key-pass2', passphrase);
  await page.click('button:has-text("Set up my key")');
  return (await page.textContent('[data-testid=fingerprint]', WAIT)).trim();
}

async function restoreKey(page, passphrase) {
  await page.waitForSelector('#key-restore', WAIT);
  await page.fill('#key-restore', 'not the passphrase at all');
  await page.click('button:has-text("Restore my key")');
  assert.match(await page.textContent('[data-testid=key-card] [data-testid=error]', WAIT), /WrongPassphrase/);
  await page.fill('#key-restore', passphrase);
  await page.click('button:has-text("Restore my key")');
  return (await page.textContent('[data-testid=fingerprint]', WAIT)).trim();
}

async function write(page, r) {
  await page.selectOption('#rec-type', 'visit-note');
  await page.fill('#rec-title', r.title);
  await page.fill('#rec-date', '2026-11-27');
  await page.fill('#rec-finding', r.finding);
  await page.fill('#rec-notes', r.notes);
  const before = await page.locator('[data-testid=records] tbody tr').count().catch(() => 0);
  await page.click('text=Encrypt and upload');
  await page.waitForSelector('text=/Encrypted in this browser and uploaded/', WAIT);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=records] tbody tr').length > n, before, WAIT);
}

/** Opens every listed record on `page` and returns the decrypted texts. */
async function openAll(page, n) {
  await page.waitForSelector('[data-testid=records]', WAIT);
  for (let i = 0; i < n; i++) {
    await page.click('[data-testid=records] >> text=Open >> nth=0');
    await page.waitForFunction((k) => document.querySelectorAll('[data-testid=decrypted]').length >= k, i + 1, WAIT);
  }
  return page.$$eval('[data-testid=decrypted]', (els) => els.map((e) => e.textContent));
}

async function keyIsNonExtractable(page, account) {
  return page.evaluate((acct) => new Promise((resolve, reject) => {
    const open = indexedDB.open('phiveil-keys', 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('ecdh').objectStore('ecdh').get(acct);
      get.onsuccess = () => resolve(get.result ? { extractable: get.result.key.extractable, type: get.result.key.type } : null);
      get.onerror = () => reject(get.error);
    };
  }), account);
}

// --- An independent reading of the ESDK raw ECDH keyring (Material Providers Library
// format), with node:crypto only: the data key a private key unwraps from a message. ---

function u16(b, o) { return b.readUInt16BE(o); }

/** { aad, edks } of an ESDK v2 message header. */
function headerParts(message) {
  const b = Buffer.from(message);
  assert.equal(b[0], 0x02, 'an ESDK v2 message');
  let o = 1 + 2 + 32;
  const aadLen = u16(b, o); o += 2;
  const aad = b.subarray(o, o + aadLen); o += aadLen;
  const count = u16(b, o); o += 2;
  const edks = [];
  for (let i = 0; i < count; i++) {
    const field = () => { const n = u16(b, o); const v = b.subarray(o + 2, o + 2 + n); o += 2 + n; return v; };
    edks.push({ providerId: field().toString('utf8'), info: field(), ciphertext: field() });
  }
  return { aad, edks };
}

/** The data key `pkcs8` (P-256) unwraps from `message`'s raw-ecdh entries (and `shares`). */
function dataKeyFor(message, pkcs8, shares = []) {
  const priv = crypto.createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(priv.export({ format: 'jwk' }).d, 'base64url'));
  const mine = Buffer.from(ecdh.getPublicKey(null, 'compressed'));
  const { aad, edks } = headerParts(message);
  for (const e of [...shares, ...edks]) {
    if (e.providerId !== 'raw-ecdh' || e.info[0] !== 1) continue;
    const rlen = e.info.readUInt32BE(1);
    const recipient = e.info.subarray(5, 5 + rlen);
    const sender = e.info.subarray(9 + rlen, 9 + rlen + e.info.readUInt32BE(5 + rlen));
    if (!recipient.equals(mine)) continue;
    const z = ecdh.computeSecret(sender);
    const fixed = Buffer.concat([
      Buffer.from('ecdh-key-derivation\0p256\0HMAC_SHA384\0'), sender, recipient, Buffer.from([0, 1, 0]), aad,
    ]);
    const salt = e.ciphertext.subarray(0, 32);
    const okm = Buffer.concat([1, 2].map((i) => {
      const counter = Buffer.alloc(4); counter.writeUInt32BE(i);
      const bits = Buffer.alloc(4); bits.writeUInt32BE(512);
      return crypto.createHmac('sha384', z).update(Buffer.concat([counter, fixed, Buffer.from([0]), salt, bits])).digest();
    }));
    assert.ok(crypto.timingSafeEqual(okm.subarray(0, 32), e.ciphertext.subarray(32, 64)), 'the commitment matches');
    const d = crypto.createDecipheriv('aes-256-gcm', okm.subarray(32, 64), Buffer.alloc(12));
    d.setAAD(fixed);
    d.setAuthTag(e.ciphertext.subarray(96, 112));
    return Buffer.concat([d.update(e.ciphertext.subarray(64, 96)), d.final()]);
  }
  throw new Error('no raw-ecdh entry for this key');
}

/** Every file under `dir`, recursively. */
function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** The needles found in `haystack` (raw bytes, base64, base64url and hex forms). */
function found(haystack, needles) {
  const out = [];
  for (const [name, n] of needles) {
    const forms = typeof n === 'string'
      ? [Buffer.from(n)]
      : [n, Buffer.from(n.toString('base64')), Buffer.from(n.toString('base64url')), Buffer.from(n.toString('hex'))];
    if (forms.some((f) => haystack.includes(f))) out.push(name);
  }
  return out;
}

test('end-to-end records in Chromium: patient and granted clinicians open them on a second device; the relay operator cannot', () => run(async () => {
  // The deployment's default mode is end-to-end: the relay brokers no data key.
  const patLogin = await relay.login('pat-e2e');
  const mode = await relay.api(patLogin.token, 'GET', '/v1/keys/mode');
  assert.deepEqual(mode.body, { mode: 'end-to-end' });
  const refusedKey = await relay.api(patLogin.token, 'POST', '/v1/keys/data-key', {
    context: { patient: patLogin.pseudonym, record_type: 'visit-note' },
  });
  assert.equal(refusedKey.status, 409);

  // Clinicians make their keys in their browsers.
  const ada = await actors.open('dr-ada');
  await signIn(ada, 'dr-ada');
  const adaPrint = await setUpKey(ada, PASS.ada);
  const bob = await actors.open('dr-bob');
  await signIn(bob, 'dr-bob');
  const bobPrint = await setUpKey(bob, PASS.bob);
  assert.notEqual(adaPrint, bobPrint);
  await shot(ada, 'e2e-clinician-key');

  // The patient makes theirs; the private key is non-extractable in IndexedDB.
  const pat = await actors.open('patient');
  await signIn(pat, 'pat-e2e');
  assert.match(await pat.textContent('[data-testid=key-mode]', WAIT), /cannot open them/);
  await shot(pat, 'e2e-patient-key-setup');
  const patPrint = await setUpKey(pat, PASS.pat);
  assert.deepEqual(await keyIsNonExtractable(pat, patLogin.user_id), { extractable: false, type: 'private' });
  await shot(pat, 'e2e-patient-key');
  // On a phone the key card (fingerprint included) fits the screen.
  await pat.setViewportSize({ width: 360, height: 780 });
  await pat.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const over = await pat.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(over <= 0, `the page is ${over}px wider than 360px`);
  await shot(pat, 'e2e-patient-key-360px');
  await pat.setViewportSize({ width: 1280, height: 860 });

  // A record, then a grant: the patient's browser wraps its key for dr-ada, whose
  // fingerprint the patient sees to compare.
  await write(pat, RECORDS[0]);
  await tab(pat, 'Sharing');
  await pat.waitForSelector('#grant-who');
  await pat.selectOption('#grant-who', { label: 'dr-ada' });
  await pat.selectOption('#grant-type', 'visit-note');
  await pat.click('button:has-text("Grant")');
  const note = await pat.textContent('[data-testid=shared-note]', WAIT);
  assert.match(note, /^1 existing visit-note record/);
  assert.ok(note.includes(adaPrint), `the grant shows dr-ada's fingerprint: ${note}`);
  await shot(pat, 'e2e-patient-grant');
  // A record written after the grant holds dr-ada's entry in its header.
  await tab(pat, 'Records');
  await write(pat, RECORDS[1]);
  const mine = (await openAll(pat, 2)).join(' ');
  for (const r of RECORDS.slice(0, 2)) assert.ok(mine.includes(r.title), mine);
  assert.match(mine, /end-to-end: the data key is wrapped in this record's header for 2 public key/);

  // dr-ada opens both (one through its share, one through its header entry).
  await tab(ada, 'Invite a patient');
  await tab(ada, "Patients' records");
  const adaSees = (await openAll(ada, 2)).join(' ');
  for (const r of RECORDS.slice(0, 2)) assert.ok(adaSees.includes(r.finding), adaSees);
  await shot(ada, 'e2e-clinician-records');

  // Second devices: restore from the backup (a wrong passphrase fails), then open.
  const ada2 = await actors.open('dr-ada-2');
  await signIn(ada2, 'dr-ada');
  assert.equal(await restoreKey(ada2, PASS.ada), adaPrint);
  const ada2Sees = (await openAll(ada2, 2)).join(' ');
  for (const r of RECORDS.slice(0, 2)) assert.ok(ada2Sees.includes(r.notes), ada2Sees);
  const pat2 = await actors.open('patient-2');
  await signIn(pat2, 'pat-e2e');
  assert.equal(await restoreKey(pat2, PASS.pat), patPrint);
  const pat2Sees = (await openAll(pat2, 2)).join(' ');
  for (const r of RECORDS.slice(0, 2)) assert.ok(pat2Sees.includes(r.notes), pat2Sees);
  await shot(pat2, 'e2e-patient-second-device');

  // A second clinician: granted from the second device, opens the older records.
  await tab(pat2, 'Sharing');
  await pat2.waitForSelector('#grant-who');
  await pat2.selectOption('#grant-who', { label: 'dr-bob' });
  await pat2.selectOption('#grant-type', 'visit-note');
  await pat2.click('button:has-text("Grant")');
  assert.match(await pat2.textContent('[data-testid=shared-note]', WAIT), /^2 existing visit-note record/);
  await tab(bob, 'Invite a patient');
  await tab(bob, "Patients' records");
  const bobSees = (await openAll(bob, 2)).join(' ');
  for (const r of RECORDS.slice(0, 2)) assert.ok(bobSees.includes(r.title), bobSees);

  // dr-bob's de-identified export, made in his browser: valid FHIR (fhir.resources),
  // no identifier of the records, a study pseudonym instead of the relay's, shifted dates.
  // One record left out, then both.
  await bob.waitForSelector('[data-testid=export] input[type=checkbox]', WAIT);
  const boxes = bob.locator('[data-testid=export] input[type=checkbox]');
  assert.equal(await boxes.count(), 2);
  await boxes.nth(0).uncheck();
  await bob.click('button:has-text("Export de-identified")');
  assert.match(await bob.textContent('[data-testid=export-report]', WAIT), /^1 record\(s\) of 1 patient\(s\)/);
  await boxes.nth(0).check();
  await bob.click('button:has-text("Export de-identified")');
  await bob.waitForFunction(() => /^2 record/.test(document.querySelector('[data-testid=export-report]')?.textContent ?? ''), null, WAIT);
  const report = await bob.textContent('[data-testid=export-report]', WAIT);
  assert.match(report, /^2 record\(s\) of 1 patient\(s\); removed from the text: .*PERSON.*PHONE/);
  const [download] = await Promise.all([bob.waitForEvent('download', WAIT), bob.click('[data-testid=export-bundle]')]);
  const bundle = JSON.parse(readFileSync(await download.path(), 'utf8'));
  const [csvDownload] = await Promise.all([bob.waitForEvent('download', WAIT), bob.click('[data-testid=export-csv]')]);
  const csv = readFileSync(await csvDownload.path(), 'utf8');
  const exported = JSON.stringify(bundle) + csv;
  for (const id of ['Marguerite', 'Okafor', '617-555-0143', patLogin.pseudonym, '2026-11-27']) {
    assert.ok(!exported.includes(id), `${id} is in the export`);
  }
  assert.ok(exported.includes(RECORDS[0].finding) && csv.split('\r\n').length === 4, csv);
  const resources = [bundle, ...bundle.entry.map((e) => e.resource)];
  const checked = spawnSync(process.env.PHIVEIL_PYTHON ?? `${process.env.HOME}/.cache/phiveil/venv/bin/python`, [path.join(root, 'tests/peers/fhir_validate.py')], { input: JSON.stringify(resources), encoding: 'utf8' });
  assert.equal(checked.status, 0, checked.stderr);
  for (const r of JSON.parse(checked.stdout).results) assert.ok(r.ok, JSON.stringify(r));
  await shot(bob, 'e2e-clinician-export');

  // Revoke dr-ada: her next download is refused; a new record holds no entry for her.
  await pat2.click('button[aria-label="Revoke: dr-ada may read visit-note"]');
  await pat2.waitForFunction(() => !document.body.textContent.includes('dr-ada may read'), null, WAIT);
  await ada.click('button:has-text("Refresh")').catch(() => {});
  const adaLogin = await relay.login('dr-ada');
  const patRecs = (await relay.api(patLogin.token, 'GET', '/v1/records')).body;
  for (const r of patRecs) assert.equal((await relay.api(adaLogin.token, 'GET', `/v1/records/${r.id}`)).status, 403);
  await tab(pat2, 'Records');
  await write(pat2, RECORDS[2]);
  const recs = (await relay.api(patLogin.token, 'GET', '/v1/records')).body;
  assert.equal(recs.length, 3);
  const messages = [];
  for (const r of recs) {
    const got = (await relay.api(patLogin.token, 'GET', `/v1/records/${r.id}`)).body;
    messages.push({ id: r.id, bytes: await relay.get(got.download) });
  }
  const adaKey = (await relay.api(adaLogin.token, 'GET', `/v1/keys/public/${adaLogin.user_id}`)).body.public_key;
  const adaCompressed = Buffer.from(crypto.createPublicKey({ key: Buffer.from(adaKey, 'base64'), format: 'der', type: 'spki' })
    .export({ format: 'jwk' }).x, 'base64url');
  const newest = messages.find((m) => headerParts(m.bytes).edks.length === 2
    && !headerParts(m.bytes).edks.some((e) => e.info.includes(adaCompressed)));
  assert.ok(newest, 'the record written after the revocation holds entries for the patient and dr-bob only');
  const bobLogin = await relay.login('dr-bob');
  assert.equal((await relay.api(bobLogin.token, 'GET', `/v1/records/${newest.id}`)).status, 200);

  // The patient's access log, checked in the browser: dr-ada's downloads and her refused
  // ones after the revocation, each row proven against a checkpoint the relay signed.
  await tab(pat2, 'Access log');
  const summary = await pat2.textContent('[data-testid=access-summary]', WAIT);
  assert.match(summary, /row\(s\): \d+ proven against the relay's signed checkpoints\. Checkpoint key/);
  assert.doesNotMatch(summary, /NOT matching/);
  const logText = await pat2.textContent('[data-testid=access-log]');
  assert.match(logText, /dr-ada \(clinician\)record downloadedallowed/);
  assert.match(logText, /dr-ada \(clinician\)record downloadedrefused/);
  await shot(pat2, 'e2e-patient-access-log');
  // Someone with the database turns one of dr-ada's refusals into an allowed access:
  // the browser shows that row as not matching.
  const accessLog = (await relay.api(patLogin.token, 'GET', '/v1/me/access-log')).body;
  const refusal = accessLog.rows.find((r) => r.actor === adaLogin.user_id && r.outcome === 'refused');
  assert.ok(refusal, 'a refused access by dr-ada is in the log');
  const py = process.env.PHIVEIL_PYTHON ?? `${process.env.HOME}/.cache/phiveil/venv/bin/python`;
  const edit = spawnSync(py, ['-c', `import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE audit SET outcome = 'allowed' WHERE seq = ?", (int(sys.argv[2]),)); c.commit()`,
  path.join(relay.dataDir, 'relay.sqlite3'), String(refusal.seq)], { encoding: 'utf8' });
  assert.equal(edit.status, 0, edit.stderr);
  await pat2.click('[aria-labelledby=access-h] button:has-text("Refresh")');
  await pat2.waitForFunction(() => /NOT matching/.test(document.querySelector('[data-testid=access-summary]')?.textContent ?? ''), null, WAIT);
  assert.ok((await pat2.locator('[data-testid=access-row].broken').count()) >= 1);
  await shot(pat2, 'e2e-patient-access-log-tampered');

  // The relay serves another key for dr-bob (as a relay that swapped it would): the
  // browser that granted him saw his fingerprint then, and refuses to write for the new one.
  const swapped = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  assert.equal((await relay.api(bobLogin.token, 'PUT', '/v1/keys/public', { public_key: swapped.toString('base64'), replace: true })).status, 200);
  await tab(pat2, 'Records');
  await pat2.selectOption('#rec-type', 'visit-note');
  await pat2.fill('#rec-title', 'Should not be written');
  await pat2.click('text=Encrypt and upload');
  assert.match(await pat2.textContent('text=/key changed since you granted them/', WAIT), /[Dd]r-bob's key changed since you granted them \(fingerprint was [0-9a-f ]+, is now [0-9a-f ]+\); nothing was written/);
  assert.equal((await relay.api(patLogin.token, 'GET', '/v1/records')).body.length, 3);
  await shot(pat2, 'e2e-patient-key-changed');

  // The patient's key, from the backup with the passphrase, opens every record outside
  // any browser; the data keys derived independently are the needles searched below.
  const backup = (await relay.api(patLogin.token, 'GET', '/v1/keys/backup')).body.backup;
  const pkcs8 = Buffer.from(phiveil.unwrapPrivateKey(Buffer.from(backup, 'base64'), patLogin.user_id, PASS.pat));
  const dataKeys = messages.map((m) => dataKeyFor(m.bytes, pkcs8));
  for (const m of messages) {
    const out = phiveil.decrypt(phiveil.Keyring.rawEcdhDiscovery(pkcs8, undefined), m.bytes, undefined);
    assert.ok(TYPED.some((t) => Buffer.from(out.plaintext).toString('utf8').includes(t)));
  }

  // The relay operator: every key in the data directory fails on every record.
  const dir = relay.dataDir;
  const master = JSON.parse(readFileSync(path.join(dir, 'kms-master-keys.json'), 'utf8'));
  const escrowDer = readFileSync(path.join(dir, 'kms-escrow-key.der'));
  for (const m of messages) {
    for (const k of master.keys) {
      const kr = phiveil.Keyring.rawAes('phiveil-kms', `master-v${k.version}`, Buffer.from(k.key, 'base64'));
      assert.throws(() => phiveil.decrypt(kr, m.bytes, undefined), /NoMatchingKey|no keyring/i);
    }
    assert.throws(() => phiveil.decrypt(phiveil.Keyring.rawEcdhDiscovery(escrowDer, undefined), m.bytes, undefined), /NoMatchingKey|no keyring/i);
  }
  // Nothing in the data directory or the relay's debug log holds a plaintext, a data
  // key, a private key or a passphrase.
  const needles = [
    ...TYPED.map((t) => [t, t]),
    ...dataKeys.map((k, i) => [`data key ${i}`, k]),
    ['patient private key', pkcs8],
    ...Object.entries(PASS).map(([who, p]) => [`${who}'s passphrase`, p]),
  ];
  const searched = [...files(dir), logFile];
  for (const f of searched) {
    const hits = found(readFileSync(f), needles);
    assert.deepEqual(hits, [], `${path.relative(dir, f)} holds ${hits.join(', ')}`);
  }
  assert.ok(statSync(logFile).size > 1000, 'the debug log was captured');
  assert.ok(searched.some((f) => f.endsWith('.esdk')), 'the stored objects were searched');

  // Nothing typed left a browser in the clear.
  for (const r of actors.sent) {
    const text = r.body.toString('latin1');
    for (const t of [...TYPED, ...Object.values(PASS)]) {
      assert.ok(!text.includes(t) && !r.url.includes(encodeURIComponent(t)), `${r.who} sent "${t}" in ${r.method} ${r.url}`);
    }
  }
  assert.deepEqual(actors.unexpectedErrors(), []);
}));

test('escrow: the browser wraps each record for the KMS escrow key; an operator recovers it, audited', () => run(async () => {
  const escrowRelay = await Relay.start({
    users: [['operator-x', 'operator'], ['pat-x', 'patient']],
    staticDir: dist,
    keyMode: 'end-to-end',
    serveArgs: ['--escrow'],
  });
  try {
    const others = new Actors(browser, escrowRelay.base);
    const pat = await others.open('patient-escrow');
    await signIn(pat, 'pat-x');
    assert.match(await pat.textContent('[data-testid=key-mode]', WAIT), /institutional escrow/);
    await setUpKey(pat, PASS.pat);
    await write(pat, RECORDS[0]);
    const opened = (await openAll(pat, 1)).join(' ');
    assert.match(opened, /2 public key\(s\), one of them the institution's escrow key/);

    const patLogin = await escrowRelay.login('pat-x');
    const [rec] = (await escrowRelay.api(patLogin.token, 'GET', '/v1/records')).body;
    const got = (await escrowRelay.api(patLogin.token, 'GET', `/v1/records/${rec.id}`)).body;
    const message = await escrowRelay.get(got.download);
    // The patient cannot recover; an operator must give a reason.
    assert.equal((await escrowRelay.api(patLogin.token, 'POST', `/v1/records/${rec.id}/recover`, { reason: 'curious' })).status, 403);
    const op = await escrowRelay.login('operator-x');
    assert.equal((await escrowRelay.api(op.token, 'POST', `/v1/records/${rec.id}/recover`, { reason: '' })).status, 400);
    const r = await escrowRelay.api(op.token, 'POST', `/v1/records/${rec.id}/recover`, { reason: 'ticket LEGAL-42: court order' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const e = r.body.encrypted_data_key;
    const kr = phiveil.Keyring.brokered(e.provider_id, Buffer.from(e.provider_info, 'base64'), Buffer.from(e.ciphertext, 'base64'),
      Buffer.from(r.body.data_key, 'base64'));
    const out = phiveil.decrypt(kr, message, { patient: patLogin.pseudonym, record_type: 'visit-note' });
    assert.ok(Buffer.from(out.plaintext).toString('utf8').includes(RECORDS[0].finding));
    // Audited under the patient, with the reason.
    const audit = (await escrowRelay.api(op.token, 'GET', '/v1/audit?action=escrow-recover')).body;
    const rows = audit.rows ?? audit;
    assert.ok(rows.some((a) => a.outcome === 'allowed' && a.patient === patLogin.pseudonym && /LEGAL-42/.test(a.detail)), JSON.stringify(rows));
    assert.ok(rows.some((a) => a.outcome === 'refused'), 'the refused attempts are audited too');
  } finally {
    escrowRelay.stop();
  }
}));
