/**
 * Test support: Debian's headless Chromium through playwright-core, with the flags this machine needs
 * (no sandbox as root, no GPU, no background traffic).
 */
import { chromium, type Browser } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}
