// Compile-only check that the package's TypeScript declarations describe a usable API
// (run by the test command with `tsc -p test/tsconfig.json`).
import {
  Keyring,
  encrypt,
  decrypt,
  encryptAsync,
  decryptAsync,
  encryptFields,
  decryptFields,
  parseHeader,
  EncryptStream,
  DecryptStream,
  vitalObservation,
  VitalRules,
  Redactor,
  DpField,
  PrivacyLedger,
  zcdpEpsilon,
  type DpEstimate,
  TelemetrySession,
  type Redaction,
  type RedactionPolicy,
  type EncryptionContext,
  type ParsedHeader,
  type DecryptedRecord,
} from 'phiveil';

export async function portalFlow(dataKey: Uint8Array, blob: Uint8Array): Promise<string> {
  const keyring: Keyring = Keyring.brokeredKms('arn:aws:kms:us-east-1:111122223333:key/k', dataKey, blob);
  const cached: Keyring = Keyring.rawAes('portal', 'k', new Uint8Array(32)).withCache({ maxAgeMs: 60_000, maxMessages: 100 });
  const ctx: EncryptionContext = { patient: 'p-1', record_type: 'vitals' };
  const message: Uint8Array = encrypt(keyring, new TextEncoder().encode('{"hr":72}'), ctx, { frameLength: 4096 });
  const header: ParsedHeader = parseHeader(message);
  const edkProvider: string = header.encryptedDataKeys[0].providerId;
  const plain: Uint8Array = decrypt(keyring, message, ctx).plaintext;
  const big: Uint8Array = await encryptAsync(cached, new Uint8Array(1 << 20), ctx, undefined);
  const back = await decryptAsync(cached, big, ctx);
  const stream = new EncryptStream(keyring, ctx, { frameLength: 1024 });
  const parts: Uint8Array[] = [stream.update(new Uint8Array(10)), stream.finish()];
  const dec = new DecryptStream(keyring, undefined);
  parts.forEach((p) => dec.update(p));
  const ctxBack: EncryptionContext = dec.finish();
  const sealed: unknown = encryptFields(keyring, { ssn: '123' }, ['ssn'], ctx);
  const rec: DecryptedRecord = decryptFields(keyring, sealed, ctx);
  const obs: unknown = vitalObservation('heart-rate', 72, undefined, '2026-03-11T08:15:00Z', 'p-1');
  const alerts: unknown = new VitalRules().push('heart-rate', 72, 0);
  void obs;
  void alerts;
  return `${edkProvider} ${plain.length} ${back.plaintext.length} ${Object.keys(ctxBack)} ${rec.fields}`;
}

export function redactNote(note: string, patientKey: Uint8Array): string {
  const policy: RedactionPolicy = { threshold: 0.6, actions: { PERSON: 'pseudonymize', SSN: 'block' }, mrnPatterns: ['\\bH(\\d{7})\\b'] };
  const out: Redaction = new Redactor(policy, patientKey).redact(note);
  const first: string = out.spans.length ? `${out.spans[0].entity}@${out.spans[0].start}` : '';
  return out.text + first;
}

export function telemetry(keyring: Keyring): Uint8Array | undefined {
  const s = new TelemetrySession(keyring, 'p-1', 'night-1', 120);
  const pushed = s.push('heart-rate', 72, undefined, 1795446000);
  return pushed.chunk?.message;
}

export function dpRelease(): number {
  const field = new DpField({ mode: 'distributed', min_cohort: 40 }, { kind: 'zcdp', rho: 0.5 }, 20, 250);
  const est: DpEstimate = field.sumEstimate(field.apply(80), 50, 0.95);
  const ledger = new PrivacyLedger(undefined);
  ledger.charge('s-1', { kind: 'zcdp', rho: 1 }, { kind: 'pure', epsilon: 0.5 });
  return est.high - est.low + zcdpEpsilon(0.5, 1e-5);
}
