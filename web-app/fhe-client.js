// Page side of the TFHE worker (static/fhe-worker.js): one module worker per tab,
// requests matched to answers by id, progress forwarded to a callback.
//
// Proofs use several workers where the browser allows: tfhe's cross-origin worker pool
// (wasm-par-mq) spreads the proof's multi-scalar multiplications over web workers by
// message passing, coordinated by a service worker (/coordinator.js) that this page
// registers; no SharedArrayBuffer or cross-origin isolation is needed. Without service
// workers, or when the pool cannot start, proofs run on the TFHE worker alone.
let next = 1;
const pending = new Map();

// How many proof workers to ask for: one per core, at most 4 (each loads the TFHE
// bundle), 1 (no pool) where service workers are unavailable.
export function proofWorkers() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return 1;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

// Registers the coordinator and waits until it controls this page (it claims its
// clients on activation), so that the workers' requests reach it.
async function coordinator() {
  if (proofWorkers() < 2) return false;
  try {
    await navigator.serviceWorker.register('/coordinator.js');
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => {
        navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
        setTimeout(resolve, 5000);
      });
    }
    return Boolean(navigator.serviceWorker.controller);
  } catch {
    return false;
  }
}

let pool = null;
// Starts the proof pool once per tab (idempotent); resolves to the number of workers
// proofs use (1 when the pool could not start).
function startPool() {
  if (!pool) {
    pool = get().then(({ controlled }) => (controlled
      ? fheCall('pool', { workers: proofWorkers() }).catch(() => 1)
      : 1));
  }
  return pool;
}

// The TFHE worker, created once the coordinator controls this page (a worker's service
// worker is fixed when it is created: one made earlier would send the pool's traffic to
// the network instead of the coordinator).
let started = null;
function get() {
  if (!started) {
    started = coordinator().then((controlled) => {
      const worker = new Worker(new URL('/fhe-worker.js', location.href), { type: 'module' });
      worker.onmessage = (e) => {
        const { id, progress, ok, result, error } = e.data;
        const p = pending.get(id);
        if (!p) return;
        if (progress) {
          p.onProgress?.(progress);
          return;
        }
        pending.delete(id);
        if (ok) p.resolve(result);
        else {
          const err = new Error(error.message);
          err.code = error.code;
          p.reject(err);
        }
      };
      worker.onerror = (e) => {
        for (const p of pending.values()) p.reject(new Error(`TFHE worker failed: ${e.message ?? 'load error'}`));
        pending.clear();
        started = null;
        pool = null;
      };
      return { worker, controlled };
    });
  }
  return started;
}

// `submit` first starts the proof pool (once), so the proof can use it.
export async function fheCallPooled(op, args, onProgress) {
  const workers = await startPool();
  const out = await fheCall(op, args, onProgress);
  return Object.assign(out, { workers });
}

export function fheCall(op, args, onProgress) {
  return new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject, onProgress });
    get().then(({ worker }) => worker.postMessage({ id, op, args }), (e) => {
      pending.delete(id);
      reject(e);
    });
  });
}
