// Tests of the npm package `phiveil` (the wasm build, Node target), including
// interop of wasm-made messages with the official AWS Encryption SDKs:
// @aws-crypto/client-node in process and aws-encryption-sdk (Python) as a subprocess.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

import * as phiveil from 'phiveil';
import { keyringFor, encrypt as sdkEncrypt, decrypt as sdkDecrypt, COMMIT_SUITE, SIGNING_SUITE } from './peers/esdk_node_peer.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const KEY = new Uint8Array(32).fill(0x11);
const SPEC = { namespace: 'phiveil-interop', name: 'patient-key-1', key_b64: Buffer.from(KEY).toString('base64') };
const keyring = () => phiveil.Keyring.rawAes(SPEC.namespace, SPEC.name, KEY);
const CONTEXTS = [
  {},
  { patient: 'p-0001', record_type: 'vitals', study: 's-42' },
  { 'pätient': 'Zoë Ünal ✓', '日本': '東京', Record: 'A', record: 'b', 'emoji 🩺': '🎉', Zz: '' },
];
const enc = new TextEncoder();

function shapes(frames) {
  const out = [];
  for (const f of frames) for (const n of [0, 1, f - 1, f, f + 1, 3 * f]) if (n >= 0) out.push([f, n]);
  return out;
}

function skipPeers() {
  return process.env.PHIVEIL_SKIP_PEERS === '1';
}

test('round trip with context and typed errors', () => {
  const kr = keyring();
  const ct = phiveil.encrypt(kr, enc.encode('SpO2 97%'), CONTEXTS[1], { frameLength: 128 });
  const out = phiveil.decrypt(kr, ct, { patient: 'p-0001' });
  assert.equal(new TextDecoder().decode(out.plaintext), 'SpO2 97%');
  assert.deepEqual({ ...out.encryptionContext }, CONTEXTS[1]);
  const cases = [
    [() => phiveil.decrypt(kr, ct.slice(0, -1)), 'Truncated'],
    [() => phiveil.decrypt(kr, new Uint8Array([...ct, 0])), 'TrailingBytes'],
    [() => phiveil.decrypt(kr, ct, { patient: 'p-0002' }), 'ContextMismatch'],
    [() => phiveil.decrypt(phiveil.Keyring.rawAes(SPEC.namespace, SPEC.name, new Uint8Array(32)), ct), 'NoMatchingKey'],
    [() => phiveil.encrypt(kr, new Uint8Array(1), { patient: 7 }), 'InvalidConfig'],
    [() => phiveil.Keyring.rawAes('ns', 'k', new Uint8Array(5)), 'InvalidKey'],
  ];
  for (const [f, code] of cases) {
    assert.throws(f, (e) => e.name === 'PhiveilError' && e.code === code, code);
  }
  const flipped = ct.slice();
  flipped[flipped.length - 1] ^= 1;
  assert.throws(() => phiveil.decrypt(kr, flipped), (e) => e.code === 'DecryptFailed');
});

test('streaming encryption and decryption in chunks', () => {
  const kr = keyring();
  const pt = randomBytes(50_000);
  const es = new phiveil.EncryptStream(kr, CONTEXTS[2], { frameLength: 4096 });
  const parts = [];
  for (let i = 0; i < pt.length; i += 3000) parts.push(es.update(pt.subarray(i, i + 3000)));
  parts.push(es.finish());
  const msg = Buffer.concat(parts);
  const ds = new phiveil.DecryptStream(kr, { '日本': '東京' });
  const out = [];
  for (let i = 0; i < msg.length; i += 777) out.push(ds.update(msg.subarray(i, i + 777)));
  const ctx = ds.finish();
  assert.deepEqual(Buffer.concat(out), pt);
  assert.deepEqual({ ...ctx }, CONTEXTS[2]);
  assert.throws(() => es.update(new Uint8Array(1)), (e) => e.code === 'InvalidState');
});

test('field-level encryption keeps unlisted fields readable and detects moves', () => {
  const kr = keyring();
  const record = { patient: { name: 'Zoë', ssn: '123-45-6789', zip: '02139' }, visits: [{ notes: 'dizzy' }, { notes: 'ok' }] };
  const sealed = phiveil.encryptFields(kr, record, ['patient.name', 'patient.ssn', 'visits[*].notes'], { patient: 'p-1' });
  assert.equal(sealed.patient.zip, '02139');
  assert.ok(!JSON.stringify(sealed).includes('123-45-6789'));
  const back = phiveil.decryptFields(kr, sealed, { patient: 'p-1' });
  assert.deepEqual(back.record, record);
  assert.deepEqual(back.fields, ['/patient/name', '/patient/ssn', '/visits/0/notes', '/visits/1/notes']);
  const swapped = structuredClone(sealed);
  [swapped.visits[0].notes, swapped.visits[1].notes] = [sealed.visits[1].notes, sealed.visits[0].notes];
  assert.throws(() => phiveil.decryptFields(kr, swapped), (e) => e.code === 'DecryptFailed');
});

test('records cross into wasm the way JSON.stringify sees them, and back as plain objects', () => {
  const kr = keyring();
  // A Date keeps its ISO string (toJSON), not an empty object.
  const seen = new Date('2026-03-11T08:15:00.000Z');
  const sealed = phiveil.encryptFields(kr, { patient: { ssn: '123-45-6789' }, seen }, ['patient.ssn'], { patient: 'p-1' });
  assert.equal(sealed.seen, '2026-03-11T08:15:00.000Z');
  assert.equal(Object.getPrototypeOf(sealed), Object.prototype);
  assert.ok(Array.isArray(sealed._phiveil.fields));
  // A cyclic record is a typed error, and the module keeps working after it.
  const cyclic = { patient: { ssn: '1' } };
  cyclic.self = cyclic;
  assert.throws(() => phiveil.encryptFields(kr, cyclic, ['patient.ssn'], { patient: 'p-1' }),
    (e) => e.name === 'PhiveilError' && e.code === 'InvalidConfig');
  const back = phiveil.decryptFields(kr, sealed, { patient: 'p-1' });
  assert.equal(back.record.patient.ssn, '123-45-6789');
});

test('data-key cache reuses keys within its limits', () => {
  const kr = keyring().withCache({ maxAgeMs: 60_000, maxMessages: 2 });
  const edk = (m) => Buffer.from(phiveil.parseHeader(m).encryptedDataKeys[0].ciphertext).toString('hex');
  const msgs = [0, 1, 2].map(() => phiveil.encrypt(kr, enc.encode('x'), CONTEXTS[1]));
  assert.equal(edk(msgs[0]), edk(msgs[1]));
  assert.notEqual(edk(msgs[1]), edk(msgs[2]));
  for (const m of msgs) assert.equal(phiveil.decrypt(kr, m).plaintext.length, 1);
});

test('brokered KMS keyring writes an aws-kms encrypted data key', () => {
  const keyId = 'arn:aws:kms:us-east-1:111122223333:key/test';
  const kr = phiveil.Keyring.brokeredKms(keyId, new Uint8Array(32).fill(3), enc.encode('blob'));
  const m = phiveil.encrypt(kr, enc.encode('r'), CONTEXTS[1]);
  const h = phiveil.parseHeader(m);
  assert.equal(h.encryptedDataKeys[0].providerId, 'aws-kms');
  assert.equal(new TextDecoder().decode(h.encryptedDataKeys[0].providerInfo), keyId);
  assert.equal(h.suiteId, 0x0478);
  assert.equal(new TextDecoder().decode(phiveil.decrypt(kr, m).plaintext), 'r');
});

test('wasm-made messages decrypt with @aws-crypto/client-node and back', { skip: skipPeers() }, async () => {
  const kr = keyring();
  const sdkKr = keyringFor(SPEC);
  for (const [frame, n] of shapes([1, 7, 128, 4096])) {
    for (const ctx of CONTEXTS) {
      const pt = randomBytes(n);
      const ours = phiveil.encrypt(kr, pt, ctx, { frameLength: frame });
      const { plaintext, messageHeader } = await sdkDecrypt(sdkKr, ours);
      assert.deepEqual(Buffer.from(plaintext), pt, `client-node decrypt frame ${frame} n ${n}`);
      assert.deepEqual({ ...messageHeader.encryptionContext }, ctx);
      const { result } = await sdkEncrypt(sdkKr, pt, { encryptionContext: ctx, suiteId: COMMIT_SUITE, frameLength: frame });
      const back = phiveil.decrypt(kr, result, ctx);
      assert.deepEqual(Buffer.from(back.plaintext), pt, `phiveil decrypt frame ${frame} n ${n}`);
    }
  }
});

function python(job) {
  const py = process.env.PHIVEIL_PYTHON ?? `${process.env.HOME}/.cache/phiveil/venv/bin/python`;
  const r = spawnSync(py, [path.join(root, 'tests/peers/esdk_peer.py')], { input: JSON.stringify(job), maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `python peer failed: ${r.stderr}`);
  return JSON.parse(r.stdout.toString());
}

test('wasm-made messages decrypt with aws-encryption-sdk (Python) and back', { skip: skipPeers() }, () => {
  const kr = keyring();
  const cases = [];
  const expected = [];
  for (const [frame, n] of shapes([128, 4096])) {
    for (const ctx of CONTEXTS) {
      const pt = randomBytes(n);
      cases.push({ ciphertext_b64: Buffer.from(phiveil.encrypt(kr, pt, ctx, { frameLength: frame })).toString('base64') });
      expected.push([pt, ctx]);
    }
  }
  const answer = python({ op: 'decrypt', key: SPEC, cases });
  answer.results.forEach((r, i) => {
    assert.equal(r.error, undefined, `${answer.sdk}: ${r.error}`);
    assert.deepEqual(Buffer.from(r.plaintext_b64, 'base64'), expected[i][0]);
    assert.deepEqual(r.context, expected[i][1]);
  });
  const made = python({
    op: 'encrypt',
    key: SPEC,
    cases: expected.map(([pt, ctx], i) => ({ plaintext_b64: pt.toString('base64'), context: ctx, frame_length: [0, 128, 4096][i % 3] })),
  });
  made.results.forEach((r, i) => {
    assert.equal(r.error, undefined, `${made.sdk}: ${r.error}`);
    const out = phiveil.decrypt(kr, Buffer.from(r.ciphertext_b64, 'base64'), expected[i][1]);
    assert.deepEqual(Buffer.from(out.plaintext), expected[i][0]);
  });
});

test('raw ECDH keyring: key pairs, every scheme, typed errors, and both ways with the Python Material Providers Library', { skip: skipPeers() }, () => {
  const b64 = (u) => Buffer.from(u).toString('base64');
  for (const curve of ['P-256', 'P-384']) {
    const alice = phiveil.ecdhKeyPair(curve);
    const bob = phiveil.ecdhKeyPair(curve);
    assert.match(bob.fingerprint, /^([0-9a-f]{4} ){9}[0-9a-f]{4}$/);
    assert.equal(phiveil.ecdhFingerprint(bob.publicKeySpki), bob.fingerprint);
    const toBob = phiveil.Keyring.rawEcdhEphemeral(bob.publicKeySpki);
    const bobReads = phiveil.Keyring.rawEcdhDiscovery(bob.privateKeyPkcs8);
    const aliceReads = phiveil.Keyring.rawEcdhDiscovery(alice.privateKeyPkcs8);
    const aliceToBob = phiveil.Keyring.rawEcdhStatic(alice.privateKeyPkcs8, bob.publicKeySpki);
    const bobToAlice = phiveil.Keyring.rawEcdhStatic(bob.privateKeyPkcs8, alice.publicKeySpki);
    const pt = enc.encode('BP 132/84, K 4.1');
    const ct = phiveil.encrypt(toBob, pt, CONTEXTS[1], { frameLength: 128 });
    assert.deepEqual(phiveil.decrypt(bobReads, ct, CONTEXTS[1]).plaintext, pt);
    assert.throws(() => phiveil.decrypt(aliceReads, ct), (e) => e.name === 'PhiveilError' && e.code === 'NoMatchingKey');
    const st = phiveil.encrypt(aliceToBob, pt, CONTEXTS[2]);
    for (const kr of [aliceToBob, bobToAlice, bobReads]) assert.deepEqual(phiveil.decrypt(kr, st).plaintext, pt);
    // The official raw ECDH keyring reads ours, and we read its.
    const bobSpec = { ecdh: 'discovery', curve: curve.replace('-', ''), private_pkcs8_b64: b64(bob.privateKeyPkcs8) };
    const read = python({ op: 'decrypt', key: bobSpec, cases: [{ ciphertext_b64: b64(ct) }, { ciphertext_b64: b64(st) }] });
    read.results.forEach((r) => {
      assert.equal(r.error, undefined, `${read.sdk}: ${r.error}`);
      assert.deepEqual(Buffer.from(r.plaintext_b64, 'base64'), Buffer.from(pt));
    });
    const made = python({
      op: 'encrypt',
      key: { ecdh: 'ephemeral', curve: curve.replace('-', ''), recipient_spki_b64: b64(bob.publicKeySpki) },
      cases: [{ plaintext_b64: b64(pt), context: CONTEXTS[2], frame_length: 128 }],
    });
    assert.equal(made.results[0].error, undefined, `${made.sdk}: ${made.results[0].error}`);
    assert.deepEqual(phiveil.decrypt(bobReads, Buffer.from(made.results[0].ciphertext_b64, 'base64'), CONTEXTS[2]).plaintext, pt);
  }
  // A reader granted later: the patient writes a key share; the backup restores a key.
  const patient = phiveil.ecdhKeyPair('P-256');
  const late = phiveil.ecdhKeyPair('P-256');
  const ct = phiveil.encrypt(phiveil.Keyring.rawEcdhEphemeral(patient.publicKeySpki), enc.encode('note'), CONTEXTS[1]);
  assert.throws(() => phiveil.decrypt(phiveil.Keyring.rawEcdhDiscovery(late.privateKeyPkcs8), ct), (e) => e.code === 'NoMatchingKey');
  const share = phiveil.shareDataKey(patient.privateKeyPkcs8, ct, late.publicKeySpki);
  assert.equal(share.providerId, 'raw-ecdh');
  assert.deepEqual(phiveil.decrypt(phiveil.Keyring.rawEcdhDiscovery(late.privateKeyPkcs8, [share]), ct, CONTEXTS[1]).plaintext, enc.encode('note'));
  assert.throws(() => phiveil.shareDataKey(late.privateKeyPkcs8, ct, late.publicKeySpki), (e) => e.code === 'NoMatchingKey');
  assert.throws(() => phiveil.Keyring.rawEcdhDiscovery(late.privateKeyPkcs8, [{ providerId: 'raw-ecdh' }]), (e) => e.name === 'PhiveilError');
  const cheap = { m_kib: 8192, t: 1, p: 1 };
  const backup = phiveil.wrapPrivateKey(patient.privateKeyPkcs8, 'u-1', 'tulip lantern orbit 42', cheap);
  assert.deepEqual(phiveil.unwrapPrivateKey(backup, 'u-1', 'tulip lantern orbit 42'), patient.privateKeyPkcs8);
  assert.throws(() => phiveil.unwrapPrivateKey(backup, 'u-1', 'tulip lantern orbit 43'), (e) => e.code === 'DecryptFailed');
  assert.throws(() => phiveil.unwrapPrivateKey(backup, 'u-2', 'tulip lantern orbit 42'), (e) => e.code === 'DecryptFailed');
  assert.throws(() => phiveil.Keyring.rawEcdhEphemeral(new Uint8Array(10)), (e) => e.name === 'PhiveilError' && e.code === 'InvalidKey');
  assert.throws(() => phiveil.ecdhKeyPair('P-521'), (e) => e.name === 'PhiveilError');
});

test('raw ECDH keyring with a non-extractable WebCrypto private key: deriveBits outside wasm, messages from phiveil and from the Python library', { skip: skipPeers() }, async () => {
  const subtle = globalThis.crypto.subtle;
  const b64 = (u) => Buffer.from(u).toString('base64');
  for (const [namedCurve, bits] of [['P-256', 256], ['P-384', 384]]) {
    const kp = await subtle.generateKey({ name: 'ECDH', namedCurve }, false, ['deriveBits']);
    await assert.rejects(subtle.exportKey('pkcs8', kp.privateKey), 'the private key cannot leave WebCrypto');
    const spki = new Uint8Array(await subtle.exportKey('spki', kp.publicKey));
    const ours = phiveil.encrypt(phiveil.Keyring.rawEcdhEphemeral(spki), enc.encode('SpO2 97%'), CONTEXTS[2]);
    const made = python({
      op: 'encrypt',
      key: { ecdh: 'ephemeral', curve: namedCurve.replace('-', ''), recipient_spki_b64: b64(spki) },
      cases: [{ plaintext_b64: b64(enc.encode('from python')), context: CONTEXTS[1], frame_length: 128 }],
    });
    assert.equal(made.results[0].error, undefined, `${made.sdk}: ${made.results[0].error}`);
    const theirs = Buffer.from(made.results[0].ciphertext_b64, 'base64');
    for (const [msg, want, ctx] of [[ours, 'SpO2 97%', CONTEXTS[2]], [theirs, 'from python', CONTEXTS[1]]]) {
      const senders = phiveil.ecdhSenders(msg, spki);
      assert.equal(senders.length, 1);
      const agreements = [];
      for (const senderSpki of senders) {
        const pub = await subtle.importKey('spki', senderSpki, { name: 'ECDH', namedCurve }, false, []);
        const sharedSecret = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: pub }, kp.privateKey, bits));
        agreements.push({ senderSpki, sharedSecret });
      }
      const kr = phiveil.Keyring.rawEcdhAgreed(spki, agreements);
      assert.equal(new TextDecoder().decode(phiveil.decrypt(kr, msg, ctx).plaintext), want);
      // Another key's secret opens nothing.
      const other = phiveil.ecdhKeyPair(namedCurve);
      assert.throws(() => phiveil.decrypt(phiveil.Keyring.rawEcdhAgreed(other.publicKeySpki, agreements), msg), (e) => e.name === 'PhiveilError');
    }
    assert.throws(() => phiveil.Keyring.rawEcdhAgreed(spki, [{ senderSpki: spki, sharedSecret: new Uint8Array(7) }]), (e) => e.code === 'InvalidConfig');
  }
});

test('signed suite 0x0578 (client-node default) both ways, sync and async paths', { skip: skipPeers() }, async () => {
  const kr = keyring();
  const sdkKr = keyringFor(SPEC);
  for (const n of [0, 100, 4096, 64 * 1024 + 3]) {
    const pt = randomBytes(n);
    for (const ours of [
      phiveil.encrypt(kr, pt, CONTEXTS[2], { suiteId: 0x0578 }),
      await phiveil.encryptAsync(kr, pt, CONTEXTS[2], { suiteId: 0x0578 }),
    ]) {
      assert.equal(phiveil.parseHeader(ours).suiteId, 0x0578);
      const { plaintext, messageHeader } = await sdkDecrypt(sdkKr, ours);
      assert.deepEqual(Buffer.from(plaintext), pt);
      assert.ok(messageHeader.encryptionContext['aws-crypto-public-key']);
    }
    // The SDK's default suite is 0x0578: no suiteId given.
    const { result } = await sdkEncrypt(sdkKr, pt, { encryptionContext: CONTEXTS[1] });
    assert.equal(phiveil.parseHeader(result).suiteId, SIGNING_SUITE);
    for (const out of [phiveil.decrypt(kr, result, CONTEXTS[1]), await phiveil.decryptAsync(kr, result, CONTEXTS[1])]) {
      assert.deepEqual(Buffer.from(out.plaintext), pt);
    }
    if (n > 0) {
      const bad = Buffer.from(result);
      bad[bad.length - 1] ^= 1;
      await assert.rejects(phiveil.decryptAsync(kr, bad), (e) => e.code === 'DecryptFailed');
    }
  }
});

test('FHIR vital-sign observations and rules from JavaScript', () => {
  const obs = phiveil.vitalObservation('spo2', 88, undefined, '2026-03-11T08:15:00Z', 'p-7f3a');
  assert.equal(obs.resourceType, 'Observation');
  assert.equal(obs.code.coding[0].code, '59408-5');
  assert.equal(obs.valueQuantity.code, '%');
  const bp = phiveil.vitalObservation('blood-pressure', 128, 82, '2026-03-11T08:15:00Z', 'p-7f3a');
  assert.equal(bp.component.length, 2);
  assert.throws(() => phiveil.vitalObservation('heart-rate', 900, undefined, '2026-03-11T08:15:00Z', 'p-7f3a'), (e) => e.code === 'InvalidRecord');
  const rules = new phiveil.VitalRules();
  const alerts = [];
  for (let t = 0; t < 120; t++) alerts.push(...rules.push('spo2', t < 30 ? 97 : 85.5, t));
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].rule, 'spo2-low');
  assert.equal(alerts[0].transition, 'raised');
  assert.ok(!JSON.stringify(alerts).includes('85.5'), 'alerts carry no vitals');
});

test('PII redaction: spans in UTF-16 offsets, policies, pseudonyms, blocking', () => {
  const note = '🩺 Patient: Zoë Ruiz, DOB 03/14/1952, SSN 219-09-9999, call (555) 201-3344, ZIP 62704. Pain 6/10.';
  const r = new phiveil.Redactor();
  const preview = r.analyze(note);
  const seen = Object.fromEntries(preview.map((s) => [s.entity, note.slice(s.start, s.end)]));
  assert.deepEqual(seen, {
    PERSON: 'Zoë Ruiz', DATE: '03/14/1952', SSN: '219-09-9999', PHONE: '(555) 201-3344', ZIP: '62704',
  });
  const out = r.redact(note);
  assert.equal(out.text, '🩺 Patient: [PERSON], DOB 1952, SSN [SSN], call [PHONE], ZIP 627**. Pain 6/10.');
  assert.ok(!JSON.stringify(out.spans).includes('Ruiz'));

  const key = new Uint8Array(32).fill(7);
  const p = new phiveil.Redactor({ actions: { PERSON: 'pseudonymize' } }, key);
  const a = p.redact('Seen by Dr. Okafor.').text;
  const b = p.redact('Dr. OKAFOR called back.').text;
  assert.match(a, /\[PERSON-[0-9a-f]{10}\]/);
  assert.equal(a.match(/\[PERSON-[0-9a-f]{10}\]/)[0], b.match(/\[PERSON-[0-9a-f]{10}\]/)[0]);

  const blocking = new phiveil.Redactor({ actions: { SSN: 'block' } });
  assert.throws(() => blocking.redact(note), (e) => e.name === 'PhiveilError' && e.code === 'PiiBlocked' && !e.message.includes('219'));
  assert.throws(() => new phiveil.Redactor({ actions: { PERSON: 'pseudonymize' } }).redact(note), (e) => e.code === 'InvalidConfig');
  assert.throws(() => new phiveil.Redactor({ treshold: 0.3 }), (e) => e.code === 'InvalidRecord');
  assert.throws(() => new phiveil.Redactor({ mrnPatterns: ['('] }), (e) => e.code === 'InvalidPattern');
  assert.throws(() => new phiveil.Redactor(undefined, new Uint8Array(4)), (e) => e.code === 'InvalidKey');

  // Strict (the default) redacts words its lexicon does not know in name and place
  // positions; every span says which signal found it.
  const msg = 'Caller reports Ingrid is more confused; she drives in from Fernbrook.';
  const strict = new phiveil.Redactor().redact(msg);
  assert.ok(!strict.text.includes('Ingrid') && !strict.text.includes('Fernbrook'), strict.text);
  const signals = ['pattern', 'label', 'context', 'dictionary', 'vocabulary', 'propagation', 'policy'];
  assert.ok(strict.spans.every((s) => signals.includes(s.signal)), JSON.stringify(strict.spans));
  const balanced = new phiveil.Redactor({ profile: 'balanced' }).analyze(msg);
  assert.ok(balanced.length < strict.spans.length);
  assert.throws(() => new phiveil.Redactor({ profile: 'lenient' }), (e) => e.code === 'InvalidRecord');
});

test('telemetry session: readings to alerts (no values) and encrypted chunks', () => {
  const kr = keyring();
  const s = new phiveil.TelemetrySession(kr, 'p-0001', 'night-1', 60);
  const alerts = [];
  const chunks = [];
  for (let i = 0; i < 300; i++) {
    const t = 1795446000 + i;
    const spo2 = i >= 100 && i < 200 ? 85 : 97;
    const p = s.push('spo2', spo2, undefined, t);
    alerts.push(...p.alerts);
    if (p.chunk) chunks.push(p.chunk);
  }
  const last = s.flush();
  assert.equal(last.chunk, undefined, '300 readings fill exactly 5 chunks');
  assert.deepEqual(alerts.map((a) => [a.rule, a.transition]), [['spo2-low', 'raised'], ['spo2-low', 'cleared']]);
  assert.ok(!JSON.stringify(alerts).includes('85'));
  assert.equal(chunks.length, 5);
  const out = phiveil.decrypt(kr, chunks[2].message, { patient: 'p-0001', record_type: 'vitals-stream', session: 'night-1' });
  const bundle = JSON.parse(new TextDecoder().decode(out.plaintext));
  assert.equal(bundle.identifier.value, 'night-1/2');
  assert.equal(bundle.entry.length, 60);
  assert.throws(() => s.push('spo2', 140, undefined, 1795446400), (e) => e.code === 'InvalidRecord');
});

test('differential privacy: field plans, intervals, ledger, zCDP conversion', () => {
  const local = new phiveil.DpField({ mode: 'local' }, { kind: 'pure', epsilon: 1 }, 20, 250);
  const noisy = local.apply(80);
  assert.ok(Number.isInteger(noisy));
  const est = local.sumEstimate(4000, 50, 0.95);
  assert.ok(est.low < 4000 && est.high > 4000 && est.confidence === 0.95);
  const dist = new phiveil.DpField({ mode: 'distributed', min_cohort: 40 }, { kind: 'zcdp', rho: 0.5 }, 20, 250);
  const central = new phiveil.DpField({ mode: 'central' }, { kind: 'zcdp', rho: 0.5 }, 20, 250);
  assert.equal(central.apply(80), 80, 'central mode adds nothing on the patient side');
  const w = (e) => e.high - e.low;
  assert.ok(w(dist.sumEstimate(4000, 50, 0.95)) < w(local.sumEstimate(4000, 50, 0.95)));
  assert.throws(() => new phiveil.DpField({ mode: 'distributed', min_cohort: 40 }, { kind: 'pure', epsilon: 1 }, 20, 250), (e) => e.code === 'InvalidConfig');
  assert.throws(() => new phiveil.DpField({ mode: 'local' }, { kind: 'pure', epsilon: 1 }, 5, 5), (e) => e.code === 'InvalidConfig');

  const ledger = new phiveil.PrivacyLedger();
  const budget = { kind: 'zcdp', rho: 1 };
  ledger.charge('s-1', budget, { kind: 'zcdp', rho: 0.6 });
  assert.throws(() => ledger.charge('s-1', budget, { kind: 'zcdp', rho: 0.6 }), (e) => e.code === 'BudgetExceeded');
  const restored = new phiveil.PrivacyLedger(ledger.toJSON());
  assert.deepEqual(restored.study('s-1').spent, { kind: 'zcdp', rho: 0.6 });
  assert.equal(restored.study('s-2'), undefined);
  assert.ok(Math.abs(phiveil.zcdpEpsilon(0.5, 1e-5) - 4.728386984943315) < 1e-5);
});
