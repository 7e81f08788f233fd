// Browser benchmark: phiveil's wasm build against the official AWS Encryption SDK for
// browsers (WebCrypto), same algorithm suite (0x0478), same raw AES key, same frame
// length (4096), same Chromium run. Results go to window.__bench for run.mjs.
import init, * as phiveil from '../pkg/web/phiveil_core.js';
import {
  buildClient,
  CommitmentPolicy,
  AlgorithmSuiteIdentifier,
  RawAesKeyringWebCrypto,
  RawAesWrappingSuiteIdentifier,
} from './dist/client-browser.js';

const params = new URLSearchParams(location.search);
const MIN_MS = Number(params.get('minMs') ?? 500);

await init();
const KEY = new Uint8Array(32).fill(0x11);
const ours = phiveil.Keyring.rawAes('bench', 'k', KEY);
const wrap = RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING;
const masterKey = await RawAesKeyringWebCrypto.importCryptoKey(KEY, wrap);
const theirs = new RawAesKeyringWebCrypto({ keyName: 'k', keyNamespace: 'bench', masterKey, wrappingSuite: wrap });
const sdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
const CTX = { patient: 'p-0001', record_type: 'eeg', study: 's-42' };
const OPTS = { encryptionContext: CTX, suiteId: SUITE, frameLength: 4096 };

function bytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

function eegBlock() {
  // 32 channels x 1000 float32 samples: a 10 Hz alpha rhythm with noise, in microvolts.
  const s = new Float32Array(32 * 1000);
  for (let ch = 0; ch < 32; ch++)
    for (let t = 0; t < 1000; t++) s[ch * 1000 + t] = 20 * Math.sin((2 * Math.PI * 10 * t) / 250 + ch) + 5 * (Math.random() - 0.5);
  return new Uint8Array(s.buffer);
}

function patientJson() {
  return {
    resourceType: 'PatientRecord',
    id: 'rec-20260311-0042',
    patient: { name: 'Zoë Ünal', ssn: '123-45-6789', birthDate: '1958-04-02', phone: '+1 617 555 0142', address: '12 Elm St, Boston MA 02139', zip: '021' },
    encounter: { date: '2026-03-11', clinic: 'cardiology', provider: 'dr-118' },
    vitals: [
      { code: '8867-4', value: 88, unit: '/min' },
      { code: '59408-5', value: 95, unit: '%' },
      { code: '8480-6', value: 131, unit: 'mm[Hg]' },
    ],
    notes: [
      { author: 'dr-118', text: 'Patient reports intermittent dizziness for two weeks, worse when standing. No syncope. Orthostatic vitals ordered.' },
      { author: 'rn-7', text: 'Medication reconciliation done; lisinopril 10 mg daily, atorvastatin 20 mg nightly.' },
    ],
  };
}
const FIELDS = ['patient.name', 'patient.ssn', 'patient.birthDate', 'patient.phone', 'patient.address', 'notes[*].text'];

// Median time of one call: calls are batched so each sample spans >= 2 ms, well
// above the timer's resolution.
async function measure(fn) {
  let batch = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    if (performance.now() - t0 >= 2 || batch >= 1 << 16) break;
    batch *= 2;
  }
  const samples = [];
  const start = performance.now();
  while (samples.length < 7 || performance.now() - start < MIN_MS) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    samples.push((performance.now() - t0) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const results = [];
const fmt = (v) => (typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v.toFixed(v >= 1 ? 2 : 4)) : v);
function row(workload, op, n, ms) {
  const mbps = (t) => n / 1e6 / (t / 1e3);
  const r = { workload, op, bytes: n, ms, MBps: Object.fromEntries(Object.entries(ms).map(([k, t]) => [k, mbps(t)])) };
  r.ratio = { sync: ms.sdk / ms.sync, async: ms.sdk / ms.async };
  results.push(r);
  const tr = document.createElement('tr');
  for (const v of [workload, op, n, ms.sync, ms.async, ms.sdk, r.MBps.sync, r.MBps.async, r.MBps.sdk, `${r.ratio.sync.toFixed(2)}×`, `${r.ratio.async.toFixed(2)}×`]) {
    const td = document.createElement('td');
    td.textContent = fmt(v);
    tr.append(td);
  }
  document.querySelector('#results tbody').append(tr);
}

async function message(workload, pt) {
  const ourMsg = phiveil.encrypt(ours, pt, CTX, { frameLength: 4096 });
  const { result: sdkMsg } = await sdk.encrypt(theirs, pt, OPTS);
  // Cross-check before timing: each decrypts the other's message.
  const a = (await sdk.decrypt(theirs, ourMsg)).plaintext;
  const b = phiveil.decrypt(ours, sdkMsg, CTX).plaintext;
  const c = (await sdk.decrypt(theirs, await phiveil.encryptAsync(ours, pt, CTX, { frameLength: 4096 }))).plaintext;
  const d = (await phiveil.decryptAsync(ours, sdkMsg, CTX)).plaintext;
  for (const x of [a, b, c, d]) if (x.length !== pt.length || x[pt.length - 1] !== pt[pt.length - 1]) throw new Error(`cross-check failed for ${workload}`);
  row(workload, 'encrypt', pt.length, {
    sync: await measure(() => phiveil.encrypt(ours, pt, CTX, { frameLength: 4096 })),
    async: await measure(() => phiveil.encryptAsync(ours, pt, CTX, { frameLength: 4096 })),
    sdk: await measure(() => sdk.encrypt(theirs, pt, OPTS)),
  });
  row(workload, 'decrypt', pt.length, {
    sync: await measure(() => phiveil.decrypt(ours, ourMsg, CTX)),
    async: await measure(() => phiveil.decryptAsync(ours, ourMsg, CTX)),
    sdk: await measure(() => sdk.decrypt(theirs, sdkMsg)),
  });
}

async function fieldLevel() {
  const rec = patientJson();
  const n = new TextEncoder().encode(JSON.stringify(rec)).length;
  // The ESDK has no field-level mode: the peer encrypts each selected value as its own message.
  const values = () => {
    const r = patientJson();
    return [r.patient.name, r.patient.ssn, r.patient.birthDate, r.patient.phone, r.patient.address, ...r.notes.map((x) => x.text)];
  };
  const enc = new TextEncoder();
  const sealed = phiveil.encryptFields(ours, rec, FIELDS, CTX);
  const sdkSealed = await Promise.all(values().map(async (v) => (await sdk.encrypt(theirs, enc.encode(JSON.stringify(v)), OPTS)).result));
  const encSync = await measure(() => phiveil.encryptFields(ours, rec, FIELDS, CTX));
  row('patient JSON, 7 fields', 'encrypt', n, {
    sync: encSync,
    async: encSync,
    sdk: await measure(() => Promise.all(values().map((v) => sdk.encrypt(theirs, enc.encode(JSON.stringify(v)), OPTS)))),
  });
  const decSync = await measure(() => phiveil.decryptFields(ours, sealed, CTX));
  row('patient JSON, 7 fields', 'decrypt', n, {
    sync: decSync,
    async: decSync,
    sdk: await measure(() => Promise.all(sdkSealed.map((m) => sdk.decrypt(theirs, m)))),
  });
}

// Core work with no browser peer: PII redaction throughput (KB/s of notes) and telemetry
// (readings/s through FHIR + rules + chunk encryption).
const extra = [];
const NOTE = `Patient: Maria de la Cruz  DOB: 03/14/1952  MRN: 00482913
Mrs. de la Cruz is a 71-year-old woman seen on March 3rd, 2024 by Dr. Okonkwo for chest pain.
Lives at 4821 Maple Grove Ave, Apt 3B, Springfield, IL 62704. Call (217) 555-0143 or email
maria.delacruz@example.org. Her daughter Ana will drive her home. SSN 219-09-9999 on file.
BP 128/82, HR 88, SpO2 97% on RA. Pain 6/10. Metformin 500 mg BID; Lisinopril 10 mg daily.
Member ID: XJH-448812-01. Pacemaker serial PM-88213-XA interrogated, normal function.
Telehealth from IP 192.168.10.254; portal https://portal.example.com/p/123. Follow up in 3 weeks.
`;
// A batch of typical notes (~100 KB): the note above with its identifiers varied, so
// document-level propagation sees a new patient each time.
const BATCH = Array.from({ length: 128 }, (_, i) => NOTE
  .replaceAll('Maria', ['Maria', 'Ingrid', 'Tolulope', 'Henrik'][i % 4])
  .replaceAll('Okonkwo', `Okonkwo${String.fromCharCode(97 + (i % 26))}`)
  .replaceAll('0143', String(1000 + i)));
async function redaction() {
  for (const profile of ['strict', 'balanced']) {
    const r = new phiveil.Redactor({ profile });
    const n = new TextEncoder().encode(NOTE).length;
    const ms = await measure(() => r.redact(NOTE));
    extra.push({ what: `PII redaction (${profile}), 1 note`, unit: 'KB/s', bytes: n, ms, value: n / 1024 / (ms / 1e3) });
    const total = BATCH.reduce((a, t) => a + new TextEncoder().encode(t).length, 0);
    const msBatch = await measure(() => { for (const t of BATCH) r.redact(t); });
    extra.push({ what: `PII redaction (${profile}), ${BATCH.length} notes (${(total / 1024).toFixed(0)} KB)`, unit: 'KB/s', bytes: total, ms: msBatch, value: total / 1024 / (msBatch / 1e3) });
    // The rows above reuse one redactor, whose pattern automata (lazy DFAs) have seen the
    // notes before; a page that redacts once starts them empty. Median of 7 first passes,
    // each by a new redactor (built outside the timing).
    const firsts = [];
    for (let k = 0; k < 7; k++) {
      const fresh = new phiveil.Redactor({ profile });
      const t0 = performance.now();
      for (const t of BATCH) fresh.redact(t);
      firsts.push(performance.now() - t0);
      fresh.free();
    }
    firsts.sort((a, b) => a - b);
    const msFirst = firsts[3];
    extra.push({ what: `PII redaction (${profile}), ${BATCH.length} notes, a new redactor's first pass`, unit: 'KB/s', bytes: total, ms: msFirst, value: total / 1024 / (msFirst / 1e3) });
  }
}
async function telemetry() {
  const N = 3600;
  const run = () => {
    const s = new phiveil.TelemetrySession(ours, 'p-0001', 'bench', 120);
    let chunks = 0;
    for (let i = 0; i < N; i++) {
      const t = 1795446000 + (i >> 1);
      const p = (i & 1) ? s.push('spo2', 97 - (i % 3), undefined, t) : s.push('heart-rate', 72 + (i % 5), undefined, t);
      if (p.chunk) chunks++;
    }
    if (s.flush().chunk) chunks++;
    return chunks;
  };
  const ms = await measure(run);
  extra.push({ what: `telemetry: ${N} readings -> FHIR + rules + encrypted chunks of 120`, unit: 'readings/s', ms, value: N / (ms / 1e3) });
}

try {
  await redaction();
  await telemetry();
  await message('1 KB record', bytes(1024));
  await message('EEG block 32x1000 f32', eegBlock());
  await message('1 MB', bytes(1 << 20));
  await fieldLevel();
  document.getElementById('status').textContent = `Done. ${navigator.userAgent}`;
  window.__bench = { ok: true, userAgent: navigator.userAgent, results, extra };
} catch (e) {
  document.getElementById('status').textContent = `Failed: ${e}`;
  window.__bench = { ok: false, error: String(e?.stack ?? e) };
}
