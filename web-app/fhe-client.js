// Page side of the TFHE worker (static/fhe-worker.js): one module worker per tab,
// requests matched to answers by id, progress forwarded to a callback.
let worker = null;
let next = 1;
const pending = new Map();

function get() {
  if (!worker) {
    worker = new Worker(new URL('/fhe-worker.js', location.href), { type: 'module' });
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
      worker = null;
    };
  }
  return worker;
}

export function fheCall(op, args, onProgress) {
  return new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject, onProgress });
    get().postMessage({ id, op, args });
  });
}
