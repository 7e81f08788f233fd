// The device's end-to-end private key, held by WebCrypto: imported non-extractable, so
// no script (this app's included) can read it back; only `deriveBits` uses it. It is
// kept in IndexedDB (a CryptoKey is stored as a handle, not as bytes) per account; where
// IndexedDB is unavailable (some private windows) it lives in this tab only.

const DB = 'phiveil-keys';
const STORE = 'ecdh';
const memory = new Map();

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function db() {
  if (typeof indexedDB === 'undefined') return null;
  try {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    return await request(open);
  } catch {
    return null;
  }
}

async function get(account) {
  const d = await db();
  if (!d) return memory.get(account) ?? null;
  try {
    return (await request(d.transaction(STORE).objectStore(STORE).get(account))) ?? memory.get(account) ?? null;
  } finally {
    d.close();
  }
}

/** The public key (SubjectPublicKeyInfo bytes) of the private key this device holds for
 * `account`, or null. */
export async function keystoreLoad(account) {
  const entry = await get(account);
  return entry ? new Uint8Array(entry.spki) : null;
}

/** Imports `pkcs8` (P-256) as a non-extractable ECDH key for `account` and keeps it with
 * its public key `spki`; zeroes `pkcs8`. Returns true when IndexedDB keeps it, false when
 * it lives in this tab only. */
export async function keystoreStore(account, pkcs8, spki) {
  let key;
  try {
    key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  } finally {
    pkcs8.fill(0);
  }
  const entry = { key, spki: spki.slice().buffer };
  memory.set(account, entry);
  const d = await db();
  if (!d) return false;
  try {
    const tx = d.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(entry, account);
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    return true;
  } catch {
    return false;
  } finally {
    d.close();
  }
}

/** The ECDH shared secret (x-coordinate, 32 bytes) of `account`'s private key with each
 * sender public key (SubjectPublicKeyInfo bytes). */
export async function keystoreDerive(account, senders) {
  const entry = await get(account);
  if (!entry) throw new Error('this device holds no end-to-end key for the account');
  const out = [];
  for (const spki of senders) {
    const pub = await crypto.subtle.importKey('spki', spki, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
    out.push(new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, entry.key, 256)));
  }
  return out;
}

/** Whether the held key is non-extractable (what the app promises). */
export async function keystoreNonExtractable(account) {
  const entry = await get(account);
  return !!entry && entry.key.extractable === false;
}
