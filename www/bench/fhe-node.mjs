// Patient-side TFHE in wasm, side by side in Node (one thread each): phiveil's bundle
// (`phiveil/fhe`, tfhe 1.8.2 compiled into it) vs Zama's own build (`node-tfhe` from
// npm, 1.7.0). Same parameters (PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 with the
// dedicated compact-PKE set), same public key and CRS (made by node-tfhe, read by
// phiveil), same work: 8 values of 8 bits as one packed compact list with a
// zero-knowledge proof (ZkComputeLoad.Proof). Also the key-ceremony steps of each.
// Run by scripts/bench-fhe.sh (NODE_TFHE_DIR points at the installed package).
import { createRequire } from 'node:module';
import path from 'node:path';

const { FheStudy, PrivacyLedger } = createRequire(import.meta.url)('../pkg/fhe/node/phiveil_fhe.js');
const T = createRequire(path.join(process.env.NODE_TFHE_DIR, 'node_modules', 'x.js'))('node-tfhe');
const RUNS = Number(process.env.FHE_RUNS || 3);
const LIMIT = BigInt(1) << BigInt(31);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (f) => { const t = performance.now(); const out = f(); return [performance.now() - t, out]; };

// node-tfhe: keys and CRS.
const config = T.TfheConfigBuilder.with_custom_parameters(
  new T.ShortintParameters(T.ShortintParametersName.PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128),
).use_dedicated_compact_public_key_parameters(
  new T.ShortintCompactPublicKeyEncryptionParameters(
    T.ShortintCompactPublicKeyEncryptionParametersName.PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128),
).build();
const [zClient, ck] = time(() => T.TfheClientKey.generate(config));
const [zServer] = time(() => T.TfheCompressedServerKey.new(ck));
const [zPublic, pk] = time(() => T.TfheCompactPublicKey.new(ck));
const [zCrs, crs] = time(() => T.CompactPkeCrs.from_config(config, 64));
const pkBytes = pk.safe_serialize(LIMIT);
const crsBytes = crs.safe_serialize(LIMIT);

// phiveil: the same ceremony steps for an 8-field study of 0..255 values (8 bits each).
const spec = { id: 'st-bench', min_cohort: 2, fields: Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`, lo: 0, hi: 255 })) };
const study = new FheStudy(spec);
const ours = study.keyCeremony(true).timings();

const values = [72, 97, 128, 80, 37, 1, 6, 4];
const meta = new TextEncoder().encode('phiveil-study-v1\0st-bench\0p-bench');
const zProofs = [];
const pProofs = [];
let zSize = 0;
let pSize = 0;
for (let r = 0; r < RUNS; r++) {
  const [tz, list] = time(() => {
    const b = T.ProvenCompactCiphertextList.builder(pk);
    for (const v of values) b.push_u8(v);
    return b.build_with_proof_packed(crs, meta, T.ZkComputeLoad.Proof);
  });
  zSize = list.safe_serialize(LIMIT).length;
  zProofs.push(tz);
  const [tp, bytes] = time(() => study.encryptSubmission(pkBytes, crsBytes, 'p-bench', values, new PrivacyLedger(), undefined));
  pSize = bytes.length;
  pProofs.push(tp);
}
const fmt = (ms) => (ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`);
console.log('| step (wasm in Node, 1 thread) | phiveil/fhe (tfhe 1.8.2) | node-tfhe 1.7.0 | ratio phiveil/node-tfhe |');
console.log('|---|---:|---:|---:|');
const row = (name, a, b) => console.log(`| ${name} | ${fmt(a)} | ${fmt(b)} | ${(a / b).toFixed(2)} |`);
row('client key', ours.client_key_ms, zClient);
row('compressed server key', ours.server_key_ms, zServer);
row('compact public key', ours.public_key_ms, zPublic);
row('CRS (64 bits)', ours.crs_ms, zCrs);
row(`encrypt + prove 8×8 bits (median of ${RUNS})`, median(pProofs), median(zProofs));
console.log(`proven list: phiveil ${pSize} bytes, node-tfhe ${zSize} bytes`);
