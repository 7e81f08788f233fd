// Shared harness of the web-app tests in headless Chromium (webapp.test.mjs,
// training.test.mjs): Debian's Chromium through playwright-core, one browser context
// per actor with every request recorded (for the privacy checks), page errors and
// console errors collected, sign-in and tab helpers.
import { chromium } from 'playwright-core';

import { PASSWORD } from './relay.mjs';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.PHIVEIL_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** The actors of one test: their pages, what they sent, their console errors. */
export class Actors {
  constructor(browser, base) {
    this.browser = browser;
    this.base = base;
    this.sent = []; // { who, method, url, body: Buffer, req }
    this.consoleErrors = [];
    this.pages = new Map(); // who -> page, for screenshots when a step fails
  }

  /** A new browser context for `who` with the app loaded and ready. */
  async open(who, viewport = { width: 1280, height: 860 }) {
    const ctx = await this.browser.newContext({ viewport });
    ctx.on('request', (req) => {
      this.sent.push({ who, method: req.method(), url: req.url(), body: req.postDataBuffer() ?? Buffer.alloc(0), req });
    });
    const page = await ctx.newPage();
    this.pages.set(who, page);
    page.on('pageerror', (e) => this.consoleErrors.push(`${who}: ${e}`));
    page.on('console', (m) => m.type() === 'error' && this.consoleErrors.push(`${who}: ${m.text()}`));
    await page.goto(`${this.base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    return page;
  }

  /** Console errors other than the 4xx answers a test provokes on purpose. */
  unexpectedErrors() {
    return this.consoleErrors.filter((e) => !/status of 4\d\d/.test(e));
  }
}

export async function signIn(page, username) {
  await page.fill('#login-user', username);
  await page.fill('#login-pass', PASSWORD);
  await page.click('form >> text=Sign in');
  await page.waitForSelector('[data-testid=who]');
}

export const tab = (page, name) => page.click(`.tabs >> text="${name}"`);
