// The web app's TFHE worker: key ceremony, proven submissions and release decryption
// run here, off the page's thread, on the `phiveil/fhe` bundle (phiveil-core built with
// its `fhe` feature). The page talks to it through fhe-client.js.
import init, {
  FheStudy, FheClientKey, PrivacyLedger, startProofPool,
} from './fhe/phiveil_fhe.js';

const ready = init();
// Client keys made or unwrapped in this tab, by the id of the study that made them
// (a federated training's rounds all use its first round's keys; never leave the worker).
const clientKeys = new Map();

// Proof workers in this tab (1: the proof runs here alone).
let workers = 1;

const ops = {
  // Starts tfhe's cross-origin worker pool with this worker as its executor (the page
  // registered the coordinator service worker first). Proofs made here afterwards
  // spread their multi-scalar multiplications over the pool's workers.
  async pool({ workers: n }) {
    // Only where the coordinator answers this worker's requests in the browser (a JSON
    // reply from the service worker; the relay would answer HTML or an error): the
    // pool's traffic carries the proof's partial results and must not leave.
    const ping = await fetch('/__wasm_par__/ping').catch(() => null);
    if (!ping?.ok || !ping.headers.get('content-type')?.includes('application/json')) {
      return { result: workers };
    }
    if (workers === 1 && n > 1) {
      await startProofPool(n);
      workers = n;
    }
    return { result: workers };
  },
  cost({ spec }) {
    return { result: new FheStudy(spec).privacyCost() ?? null };
  },
  ceremony({ spec, passphrase }, progress) {
    const study = new FheStudy(spec);
    progress({ step: 'keys' });
    const keys = study.keyCeremony(false);
    const timings = keys.timings();
    progress({ step: 'wrap' });
    const t0 = performance.now();
    const wrapped = keys.wrapClientKey(passphrase);
    timings.wrap_ms = Math.round(performance.now() - t0);
    const serverKey = keys.serverKey();
    const publicKey = keys.publicKey();
    clientKeys.set(spec.id, keys.intoClientKey());
    return {
      result: { serverKey, publicKey, wrapped, timings },
      transfer: [serverKey.buffer, publicKey.buffer, wrapped.buffer],
    };
  },
  submit({ spec, publicKey, crs, patient, values, ledger, budget }) {
    const study = new FheStudy(spec);
    const l = new PrivacyLedger(ledger ?? undefined);
    const t0 = performance.now();
    const bytes = study.encryptSubmission(publicKey, crs, patient, values, l, budget);
    return {
      result: { bytes, ledger: l.toJSON(), ms: Math.round(performance.now() - t0), workers },
      transfer: [bytes.buffer],
    };
  },
  decrypt({ spec, keyId, release, wrapped, passphrase, confidence }) {
    const study = new FheStudy(spec);
    const kid = keyId ?? spec.id;
    let key = clientKeys.get(kid);
    if (!key) {
      if (!wrapped) {
        const e = new Error('the study key is not in this tab: enter the passphrase');
        e.code = 'NeedPassphrase';
        throw e;
      }
      key = FheClientKey.unwrap(wrapped, kid, passphrase);
      clientKeys.set(kid, key);
    }
    return { result: study.decryptRelease(key, release, confidence) };
  },
  hasKey({ spec, keyId }) {
    return { result: clientKeys.has(keyId ?? spec.id) };
  },
};

self.onmessage = async (e) => {
  const { id, op, args } = e.data;
  const progress = (p) => self.postMessage({ id, progress: p });
  try {
    await ready;
    const fn = ops[op];
    if (!fn) throw new Error(`unknown operation ${op}`);
    const { result, transfer = [] } = await fn(args, progress);
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (err) {
    self.postMessage({
      id,
      ok: false,
      error: { code: err?.code ?? err?.name ?? 'Error', message: String(err?.message ?? err) },
    });
  }
};
