#!/usr/bin/env node
// Interop peer: the official AWS Encryption SDK for JavaScript (@aws-crypto/client-node).
// Same JSON protocol as tests/peers/esdk_peer.py: one job on stdin, one answer on stdout.
// Commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT, suite 0x0478 (the SDK's default is
// the signing suite 0x0578, so it is named explicitly), raw AES keyring with
// utf8Sorting: true (the specification's byte order of context keys).
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sdkVersion = require('@aws-crypto/client-node/package.json').version;

const WRAPPING = {
  16: RawAesWrappingSuiteIdentifier.AES128_GCM_IV12_TAG16_NO_PADDING,
  24: RawAesWrappingSuiteIdentifier.AES192_GCM_IV12_TAG16_NO_PADDING,
  32: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
};

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export function keyringFor(spec) {
  const raw = Buffer.from(spec.key_b64, 'base64');
  return new RawAesKeyringNode({
    keyName: spec.name,
    keyNamespace: spec.namespace,
    unencryptedMasterKey: new Uint8Array(raw),
    wrappingSuite: WRAPPING[raw.length],
    utf8Sorting: true,
  });
}

export const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
export const COMMIT_SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
export const SIGNING_SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;

async function main() {
  const job = await readStdin();
  const keyring = keyringFor(job.key);
  const results = [];
  for (const c of job.cases) {
    try {
      if (job.op === 'encrypt') {
        const { result } = await encrypt(keyring, Buffer.from(c.plaintext_b64, 'base64'), {
          encryptionContext: c.context ?? {},
          suiteId: c.suite === '0578' ? SIGNING_SUITE : COMMIT_SUITE,
          frameLength: c.frame_length ?? 4096,
        });
        results.push({ ciphertext_b64: Buffer.from(result).toString('base64') });
      } else {
        const { plaintext, messageHeader } = await decrypt(keyring, Buffer.from(c.ciphertext_b64, 'base64'));
        results.push({
          plaintext_b64: Buffer.from(plaintext).toString('base64'),
          context: messageHeader.encryptionContext,
        });
      }
    } catch (e) {
      results.push({ error: `${e.name}: ${e.message}` });
    }
  }
  process.stdout.write(JSON.stringify({ sdk: `node ${sdkVersion}`, results }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
