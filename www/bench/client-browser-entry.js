// Bundled by esbuild into dist/client-browser.js for the benchmark page.
export {
  buildClient,
  CommitmentPolicy,
  AlgorithmSuiteIdentifier,
  RawAesKeyringWebCrypto,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-browser';
