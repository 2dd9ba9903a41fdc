// The admin UI in a real browser: a person signs in through the identity provider's login page, shortens a URL,
// copies and follows it, bulk-shortens a CSV, edits a link, creates and revokes a token, switches to dark mode and
// signs out. Every page gets an axe-core scan and screenshots (light and dark, desktop and phone).
//
// Run by tests/e2e.rs, which starts Blink (BLINK_URL, on a `.test` name the browser maps to 127.0.0.1, because
// Blink refuses loopback targets when it runs on loopback itself) and the OpenID provider. Exits non-zero on the
// first failed expectation, printing what the page showed.

import { createServer } from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const blink = process.env.BLINK_URL;
const outDir = process.env.OUT_DIR;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!blink || !outDir) {
  console.error('BLINK_URL and OUT_DIR must be set');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const viewports = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

/** Fails the run with a message naming what was expected. */
function expect(condition, message) {
  if (!condition) throw new Error(`expected: ${message}`);
}

/** Clicks a form's button and waits for the page the form's answer loads. */
async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), button.click()]);
}

/** The page a short link should land on, served on loopback under a `.test` name. */
async function startTarget() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><title>Landed</title><h1>Landed on ${req.url}</h1></html>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://target.test:${server.address().port}` };
}

/** Runs axe-core on the current page; fails on serious or critical violations. */
async function accessible(page, name) {
  const violations = await page.evaluate(async (source) => {
    // Evaluated through the DevTools protocol, which page CSP does not govern.
    (0, eval)(source);
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  }, axeSource);
  expect(violations.length === 0, `no serious accessibility violation on ${name}, found:\n  ${violations.join('\n  ')}`);
}

/** The page's cumulative layout shift so far (Chromium's layout-shift entries), after two frames. */
async function layoutShift(page) {
  return page.evaluate(async () => {
    let total = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
    });
    observer.observe({ type: 'layout-shift', buffered: true });
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    for (const entry of observer.takeRecords()) if (!entry.hadRecentInput) total += entry.value;
    observer.disconnect();
    return total;
  });
}

/** Screenshots of `url` in light and dark, desktop and phone width, with an accessibility scan in each theme. */
async function capture(context, url, name) {
  const page = await context.newPage();
  try {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [device, size] of Object.entries(viewports)) {
        await page.setViewportSize(size);
        await page.goto(url);
        if (device === 'desktop') await accessible(page, `${name} (${scheme})`);
        const shift = await layoutShift(page);
        expect(shift < 0.01, `${name} does not shift its layout while loading (${device}, ${scheme}), shift ${shift}`);
        const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
        expect(scrollWidth <= size.width, `${name} fits a ${size.width} px wide ${device} without scrolling sideways`);
        await page.screenshot({ path: join(outDir, `${name}-${scheme}-${device}.png`), fullPage: true });
      }
    }
  } finally {
    await page.close();
  }
}

const target = await startTarget();
const browser = await chromium.launch({
  executablePath,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--host-resolver-rules=MAP blink.test 127.0.0.1, MAP target.test 127.0.0.1',
    // The Clipboard API needs a secure context; Blink runs on plain HTTP under a `.test` name here.
    `--unsafely-treat-insecure-origin-as-secure=${blink}`,
  ],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: viewports.desktop, colorScheme: 'light' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: blink });
  context.on('page', (p) => watch(p));
  const page = await context.newPage();

  // Console errors and CSP violations on Blink's pages are failures (the provider's pages are not ours).
  function watch(p) {
    // Pages answered 404 or 422 on purpose report that as a console error; a failed asset is caught below.
    p.on('console', (message) => {
      const expected = message.text().startsWith('Failed to load resource');
      if (message.type() === 'error' && !expected && p.url().startsWith(blink)) {
        problems.push(`console on ${p.url()}: ${message.text()}`);
      }
    });
    p.on('response', (response) => {
      const asset = response.request().resourceType() !== 'document';
      if (asset && response.status() >= 400 && response.url().startsWith(blink)) {
        problems.push(`${response.status()} for ${response.url()} on ${p.url()}`);
      }
    });
    p.on('pageerror', (error) => problems.push(`script error on ${p.url()}: ${error.message}`));
  }

  // Signed out, /app leads to the sign-in page; its SSO button leads to the provider's login page.
  await page.goto(`${blink}/app`);
  expect(page.url().startsWith(`${blink}/app/sign-in`), `/app sends a signed-out visitor to the sign-in page, got ${page.url()}`);
  await accessible(page, 'sign-in');
  await capture(context, page.url(), 'sign-in');
  await page.getByRole('link', { name: 'Continue with single sign-on' }).click();
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Name', { exact: true }).fill('Alice Example');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${blink}/app/**`);
  expect(page.url().startsWith(`${blink}/app/links`), `signed in, Alice lands on the links list, got ${page.url()}`);
  await page.getByText('Alice Example').first().waitFor();

  // Shorten a URL, copy the short URL, follow it.
  await page.getByRole('link', { name: 'Shorten', exact: true }).first().click();
  await capture(context, page.url(), 'shorten');
  await page.getByLabel('URL to shorten').fill('not a url');
  await page.getByRole('button', { name: 'Shorten', exact: true }).click();
  await page.locator('#url-error').waitFor();
  expect((await page.getByLabel('URL to shorten').inputValue()) === 'not a url', 'a refused URL stays in the field');
  await page.getByLabel('URL to shorten').fill(`${target.base}/welcome?from=e2e`);
  await page.getByRole('button', { name: 'Shorten', exact: true }).click();
  const shortUrl = await page.getByLabel('Short URL').inputValue();
  expect(shortUrl.startsWith(`${blink}/`), `the result shows a short URL on Blink, got "${shortUrl}"`);
  expect((await page.locator('.qr-box svg').count()) === 1, 'the result shows a QR code');
  await page.getByRole('button', { name: 'Copy' }).first().click();
  await page.getByRole('button', { name: 'Copied' }).first().waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied === shortUrl, `the copy button puts the short URL on the clipboard, got "${copied}"`);
  const slug = shortUrl.slice(blink.length + 1);

  const visitor = await context.newPage();
  await visitor.goto(shortUrl);
  expect(visitor.url() === `${target.base}/welcome?from=e2e`, `the short link lands on the target, got ${visitor.url()}`);
  await visitor.getByText('Landed on /welcome?from=e2e').waitFor();
  await visitor.close();

  // Edit the link's title; the detail page shows it.
  await page.goto(`${blink}/app/links/${slug}`);
  await capture(context, page.url(), 'link-detail');
  await page.getByRole('link', { name: 'Edit' }).first().click();
  await capture(context, page.url(), 'link-edit');
  await page.getByLabel('Title').fill('Welcome page (e2e)');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Welcome page (e2e)').first().waitFor();
  expect(page.url().startsWith(`${blink}/app/links/${slug}`), `saving returns to the link page, got ${page.url()}`);

  // The list finds it by its title.
  await page.goto(`${blink}/app/links`);
  await page.getByLabel('Search').fill('e2e');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/app/links?*q=e2e*');
  await page.locator(`a[href="/app/links/${slug}"]`).first().waitFor();
  await capture(context, `${blink}/app/links`, 'links');

  // Bulk-shorten a CSV; the results can be downloaded as CSV.
  await page.goto(`${blink}/app/bulk`);
  await capture(context, page.url(), 'bulk');
  const csv = `url,slug\n${target.base}/one,e2e-one\n${target.base}/two,\nnot a url,\n${target.base}/welcome?from=e2e,\n`;
  await page.getByLabel('Or a CSV file').setInputFiles({ name: 'links.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Shorten all' }).click();
  await page.getByText('e2e-one').first().waitFor();
  const results = await page.locator('main').innerText();
  expect(/created/i.test(results) && /refused/i.test(results), `the bulk result lists created and refused lines:\n${results}`);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download CSV' }).click(),
  ]);
  const downloaded = readFileSync(await download.path(), 'utf8');
  expect(downloaded.includes('e2e-one') && downloaded.split('\n').length >= 5, `the downloaded CSV has every line:\n${downloaded}`);
  await page.screenshot({ path: join(outDir, 'bulk-results-light-desktop.png'), fullPage: true });
  await accessible(page, 'bulk results');

  // Create a token (shown once), then revoke it.
  await page.goto(`${blink}/app/tokens`);
  await capture(context, page.url(), 'tokens');
  await page.getByLabel('Name', { exact: true }).fill('e2e token');
  await page.getByLabel('Read links').check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = await page.locator('#new-token').inputValue();
  expect(token.startsWith('blink_'), `the new token is shown once, got "${token}"`);
  await accessible(page, 'token created');
  await page.goto(`${blink}/app/tokens`);
  expect(!(await page.content()).includes(token), 'the token is not shown a second time');
  const row = page.getByRole('row').filter({ hasText: 'e2e token' });
  await row.getByRole('button', { name: 'Revoke token e2e token' }).click();
  await page.getByRole('row').filter({ hasText: 'e2e token' }).getByText('revoked').waitFor();
  // Node resolves names without the browser's mapping.
  const api = await fetch(`${blink.replace('//blink.test', '//127.0.0.1')}/api/user`, { headers: { authorization: `Bearer ${token}` } });
  expect(api.status === 401, `a revoked token is refused by the API, got ${api.status}`);

  // Users pages.
  await capture(context, `${blink}/app/users`, 'users');
  await capture(context, `${blink}/app/users/alice`, 'user-detail');
  await capture(context, `${blink}/app/no-such-page`, 'not-found');

  // Dark mode, chosen explicitly, survives a reload.
  await page.goto(`${blink}/app/links`);
  await submit(page, page.getByRole('button', { name: 'Dark' }));
  await page.reload();
  expect((await page.locator('html').getAttribute('data-theme')) === 'dark', 'the dark theme sticks after a reload');
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  expect(r + g + b < 200, `the dark theme has a dark background, got ${background}`);
  await submit(page, page.getByRole('button', { name: 'Auto' }));

  // Keyboard: the first Tab reaches a visible, focused control.
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    return el && el !== document.body ? { tag: el.tagName, outline: style.outlineStyle, shadow: style.boxShadow } : null;
  });
  expect(focused && (focused.outline !== 'none' || focused.shadow !== 'none'), `Tab focuses a control with a visible focus ring, got ${JSON.stringify(focused)}`);

  // Sign out: back on the sign-in page, and /app asks to sign in again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  const providerConfirm = page.getByRole('button', { name: /sign me out|yes/i });
  if (!page.url().startsWith(blink) && (await providerConfirm.count()) > 0) await providerConfirm.first().click();
  await page.waitForURL(`${blink}/app/sign-in**`);
  await page.goto(`${blink}/app/links`);
  expect(page.url().startsWith(`${blink}/app/sign-in`), `after signing out /app asks to sign in, got ${page.url()}`);

  expect(problems.length === 0, `no console errors or CSP violations, found:\n  ${problems.join('\n  ')}`);
  console.log(`e2e: passed; screenshots in ${outDir}`);
} finally {
  await browser.close();
  target.server.close();
}
