// A real `phiveil-relay` process on 127.0.0.1 for the Node and browser tests: a fresh
// data directory, users made with the operator CLI, the JSON API and presigned
// transfers. The binary is $PHIVEIL_RELAY_BIN (scripts/test.sh points it at the debug
// build), else the default cargo target directory's debug build.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/phiveil/target');
export const relayBin = process.env.PHIVEIL_RELAY_BIN || path.join(target, 'debug/phiveil-relay');
export const PASSWORD = 'correct horse battery';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Relay {
  constructor(dataDir, base, child) {
    this.dataDir = dataDir;
    this.base = base;
    this.child = child;
  }

  /** Starts a relay; `users` are `[username, role]` pairs created first (password PASSWORD);
   * `serveArgs` go to `serve` (a short `--token-ttl-secs`, say). `keyMode` is the
   * deployment's key mode (`brokered`, what most tests exercise, or `end-to-end`, the
   * binary's default); with `logFile` the relay logs at debug level, as JSON, into it. */
  static async start({ users = [], staticDir, serveArgs = [], keyMode = 'brokered', logFile } = {}) {
    assert.ok(existsSync(relayBin), `${relayBin} is missing: build the workspace first (scripts/test.sh does)`);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'phiveil-relay-'));
    const relay = new Relay(dataDir, null, null);
    for (const [name, role] of users) relay.cli('create-user', '--username', name, '--role', role);
    const port = await freePort();
    relay.base = `http://127.0.0.1:${port}`;
    const args = ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`];
    if (staticDir) args.push('--static-dir', staticDir);
    args.push('--key-mode', keyMode, ...serveArgs);
    relay.child = spawn(relayBin, args, {
      env: logFile
        ? { ...process.env, PHIVEIL_LOG: 'debug', PHIVEIL_LOG_FORMAT: 'json' }
        : { ...process.env, PHIVEIL_LOG: 'warn' },
      stdio: ['ignore', 'ignore', logFile ? openSync(logFile, 'a') : 'inherit'],
    });
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${relay.base}/healthz`)).ok) return relay;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the relay did not start');
  }

  cli(...args) {
    const r = spawnSync(relayBin, ['--data-dir', this.dataDir, ...args], {
      env: { ...process.env, PHIVEIL_PASSWORD: PASSWORD, PHIVEIL_LOG: 'warn' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }

  stop() {
    this.child?.kill('SIGTERM');
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  abs(url) {
    return url.startsWith('/') ? `${this.base}${url}` : url;
  }

  async api(token, method, p, body) {
    const res = await fetch(`${this.base}${p}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Opens a study as a client does: POST …/open, then while the relay answers 202
   * (its opening job runs on) poll the study until it is open or says why not. */
  async openStudy(token, id) {
    let r = await this.api(token, 'POST', `/v1/studies/${id}/open`, {});
    if (r.status !== 202) return r;
    for (let i = 0; i < 1200; i++) {
      await new Promise((res) => setTimeout(res, 250));
      const s = await this.api(token, 'GET', `/v1/studies/${id}`);
      if (s.body.state === 'open') return { status: 200, body: s.body };
      if (s.body.open_error) return { status: 400, body: s.body };
    }
    return r;
  }

  async login(username) {
    const r = await this.api(null, 'POST', '/v1/auth/login', { username, password: PASSWORD });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  }

  async put(upload, bytes) {
    const res = await fetch(this.abs(upload.url), {
      method: 'PUT',
      headers: Object.fromEntries(upload.headers ?? [['content-type', 'application/octet-stream']]),
      body: bytes,
    });
    assert.equal(res.status, 201);
  }

  async get(download) {
    return new Uint8Array(await (await fetch(this.abs(download.url))).arrayBuffer());
  }
}
