/**
 * Chromium for the browser tests, through playwright-core and the system's
 * Chromium (never a downloaded browser: `npx playwright install` is not
 * used). `describeWithChromium` runs a block only when the binary exists;
 * otherwise the block is reported as skipped with the reason in its name.
 * Under REQUIRE_SERVICES=1 (CI) a missing Chromium fails the run instead.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { describe } from 'vitest';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(process.cwd(), 'test-artifacts', 'screenshots');

export const chromiumAvailable = existsSync(CHROMIUM_PATH);

export function describeWithChromium(title: string, body: () => void): void {
  if (chromiumAvailable) describe(title, body);
  else if (process.env.REQUIRE_SERVICES === '1') {
    describe(title, () => {
      throw new Error(`Chromium is not installed at ${CHROMIUM_PATH} — REQUIRE_SERVICES=1 makes this a failure (apt-get install chromium)`);
    });
  } else describe.skip(`${title} [SKIPPED: Chromium not found at ${CHROMIUM_PATH}]`, body);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--disable-dev-shm-usage',
    ],
  });
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, `${name}.png`);
}
