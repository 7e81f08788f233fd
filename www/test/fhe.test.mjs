// Private statistics through the npm package (`phiveil/fhe`, the wasm build in Node)
// against a real relay process on 127.0.0.1: the owner's key ceremony and passphrase
// wrapping in wasm, patients' proven submissions made in wasm and verified by the relay,
// the privacy ledger refusing past a patient's budget, the relay's encrypted
// aggregation and release, and the owner's decryption with DP intervals in wasm.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FheStudy, FheClientKey, PrivacyLedger } from 'phiveil/fhe';
import { Relay } from './relay.mjs';

const PASSPHRASE = 'owner passphrase for the study key';
let relay;
const api = (...a) => relay.api(...a);
const login = (name) => relay.login(name);
const put = (upload, bytes) => relay.put(upload, bytes);

async function download(token, study, kind) {
  const r = await api(token, 'GET', `/v1/studies/${study}/artifacts/${kind}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return relay.get(r.body);
}

before(async () => {
  relay = await Relay.start({
    users: [['dr-fhe', 'clinician'], ['pat-a', 'patient'], ['pat-b', 'patient'], ['pat-c', 'patient']],
  });
});

after(() => relay?.stop());

const FIELDS = [
  { name: 'heart_rate', lo: 20, hi: 250, bins: [60, 100], at_least: [120] },
  { name: 'smoker', lo: 0, hi: 1 },
  { name: 'pain', lo: 0, hi: 10, dp: { mode: { mode: 'local' }, privacy: { kind: 'pure', epsilon: 1 } } },
];
const VALUES = [[72, 0, 3], [130, 1, 7], [55, 0, 5]];

test('owner ceremony, patient proofs and owner decryption in wasm, aggregation on the relay', async () => {
  const dr = await login('dr-fhe');
  const created = await api(dr.token, 'POST', '/v1/studies', { title: 'Clinic vitals', fields: FIELDS, min_cohort: 3 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  const owner = new FheStudy(created.body.spec);

  // The key ceremony in wasm; the relay makes the CRS.
  const keys = owner.keyCeremony(false);
  const t = keys.timings();
  console.log(`# ceremony in wasm (ms): client ${t.client_key_ms}, server ${t.server_key_ms}, public ${t.public_key_ms}`);
  const wrapped = keys.wrapClientKey(PASSPHRASE, { m_kib: 8192, t: 1, p: 1 });
  assert.ok(!Buffer.from(wrapped).toString().includes('ClientKey'));
  const server = keys.serverKey();
  const publicKey = keys.publicKey();
  assert.equal(keys.crs(), undefined);
  const k = await api(dr.token, 'POST', `/v1/studies/${id}/keys`, {
    server_key: server.length, public_key: publicKey.length, wrapped_client_key: wrapped.length,
  });
  assert.equal(k.status, 200, JSON.stringify(k.body));
  await put(k.body.uploads['server-key'], server);
  await put(k.body.uploads['public-key'], publicKey);
  await put(k.body.uploads['wrapped-client-key'], wrapped);
  const opened = await relay.openStudy(dr.token, id);
  assert.equal(opened.status, 200, JSON.stringify(opened.body));

  // Patients: fetch the public key and CRS, prove and submit.
  const truth = [];
  for (const [i, name] of ['pat-a', 'pat-b', 'pat-c'].entries()) {
    const me = await login(name);
    const pk = await download(me.token, id, 'public-key');
    const crs = await download(me.token, id, 'crs');
    const study = new FheStudy((await api(me.token, 'GET', `/v1/studies/${id}`)).body.spec);
    const ledger = new PrivacyLedger();
    assert.deepEqual(study.privacyCost(), { kind: 'pure', epsilon: 1 });
    if (i === 0) {
      // Past the patient's budget: refused, nothing charged.
      assert.throws(() => study.encryptSubmission(pk, crs, me.pseudonym, VALUES[0], ledger, { kind: 'pure', epsilon: 0.5 }),
        (e) => e.code === 'BudgetExceeded');
      assert.equal(ledger.study(id), undefined);
      // Out of the declared range: refused before anything is encrypted.
      assert.throws(() => study.encryptSubmission(pk, crs, me.pseudonym, [251, 0, 3], ledger, { kind: 'pure', epsilon: 2 }),
        (e) => e.code === 'OutOfRange');
      assert.equal(ledger.study(id), undefined);
    }
    const t0 = performance.now();
    const bytes = study.encryptSubmission(pk, crs, me.pseudonym, VALUES[i], ledger, { kind: 'pure', epsilon: 2 });
    console.log(`# encrypt + prove in wasm: ${(performance.now() - t0).toFixed(0)} ms, ${bytes.length} bytes`);
    assert.deepEqual(ledger.study(id).spent, { kind: 'pure', epsilon: 1 });
    const reg = await api(me.token, 'POST', `/v1/studies/${id}/submissions`, { size: bytes.length });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    await put(reg.body.upload, bytes);
    const done = await api(me.token, 'POST', `/v1/studies/${id}/submissions/${reg.body.submission.id}/complete`, {});
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.state, 'accepted');
    truth.push(VALUES[i]);
  }

  const rel = await api(dr.token, 'POST', `/v1/studies/${id}/release`, {});
  assert.equal(rel.status, 202, JSON.stringify(rel.body));
  for (let i = 0; ; i++) {
    const s = await api(dr.token, 'GET', `/v1/studies/${id}`);
    if (s.body.state === 'released') break;
    assert.ok(i < 1200, 'release timed out');
    await new Promise((r) => setTimeout(r, 250));
  }

  // The owner, on another device: unwrap the client key with the passphrase.
  const stored = await download(dr.token, id, 'wrapped-client-key');
  assert.throws(() => FheClientKey.unwrap(stored, id, 'not the passphrase'), (e) => e.code === 'DecryptFailed');
  const key = FheClientKey.unwrap(stored, id, PASSPHRASE);
  const release = await download(dr.token, id, 'release');
  const out = owner.decryptRelease(key, release, 0.999999);
  const col = (j) => truth.map((v) => v[j]);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  assert.equal(out[0].sum, sum(col(0)));
  assert.deepEqual(out[0].bins, [1, 1, 1]);
  assert.deepEqual(out[0].at_least, [1]);
  assert.equal(out[1].sum, 1);
  assert.equal(out[0].sum_interval, null);
  // Local DP: the sum carries three discrete Laplace draws; the interval holds the truth.
  const iv = out[2].sum_interval;
  assert.ok(iv.low <= sum(col(2)) && sum(col(2)) <= iv.high, JSON.stringify(out[2]));
  assert.ok(out[2].mean_interval.high - out[2].mean_interval.low > 0);
});
