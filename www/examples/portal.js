// Embedding example for a patient portal: encrypt a record with the phiveil npm package.
import init, { Keyring, encrypt, decrypt, encryptFields, decryptFields, parseHeader } from '../pkg/web/phiveil_core.js';

const $ = (id) => document.getElementById(id);
const status = (text, isError = false) => {
  $('status').textContent = text;
  $('status').className = isError ? 'err' : '';
};

await init();
// Demo key: a portal would use Keyring.brokeredKms(keyId, dataKey, blob) with the
// data key the relay returns from KMS GenerateDataKey.
const keyring = Keyring.rawAes('portal-demo', 'tab-key', crypto.getRandomValues(new Uint8Array(32)));
let last = null;

const record = () => ({
  patient: { name: $('name').value, ssn: $('ssn').value },
  visit: { notes: $('notes').value, recorded: new Date().toISOString().slice(0, 10) },
});
const context = () => ({ patient: $('patient').value, record_type: $('record_type').value });
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));

$('encrypt').addEventListener('click', () => {
  try {
    const plaintext = new TextEncoder().encode(JSON.stringify(record()));
    const message = encrypt(keyring, plaintext, context(), { frameLength: 4096 });
    const header = parseHeader(message);
    last = { kind: 'message', message };
    window.phiveilLastMessage = message;
    $('output').textContent =
      `ESDK message, ${message.length} bytes, suite 0x${header.suiteId.toString(16).padStart(4, '0')}, ` +
      `${header.encryptedDataKeys.length} encrypted data key(s), context ${JSON.stringify(header.encryptionContext)}\n\n${b64(message)}`;
    $('decrypt').disabled = false;
    status('Encrypted in the browser.');
  } catch (e) {
    status(`${e.code ?? e.name}: ${e.message}`, true);
  }
});

$('fields').addEventListener('click', () => {
  try {
    const sealed = encryptFields(keyring, record(), ['patient.name', 'patient.ssn', 'visit.notes'], context());
    last = { kind: 'fields', sealed };
    $('output').textContent = JSON.stringify(sealed, null, 2);
    $('decrypt').disabled = false;
    status('Sensitive fields encrypted; the rest stays readable.');
  } catch (e) {
    status(`${e.code ?? e.name}: ${e.message}`, true);
  }
});

$('decrypt').addEventListener('click', () => {
  try {
    const out =
      last.kind === 'message'
        ? JSON.parse(new TextDecoder().decode(decrypt(keyring, last.message, context()).plaintext))
        : decryptFields(keyring, last.sealed, context()).record;
    $('output').textContent = JSON.stringify(out, null, 2);
    status('Decrypted and verified against the expected encryption context.');
  } catch (e) {
    status(`${e.code ?? e.name}: ${e.message}`, true);
  }
});

status('Ready.');
document.body.dataset.ready = 'true';
