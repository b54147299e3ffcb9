// Browser tests of the agent console, run by local/devstack's end-to-end test against a running
// local stack with Debian's Chromium (headless) through playwright-core (installed by
// `make tools` into local/tools/node_modules). Input (environment):
//   CONSOLE_URL      the stack's base URL (http://127.0.0.1:PORT)
//   SIM_URL          the Meta simulator's base URL
//   ADMIN_TOKEN      a bearer key for the API (to read mids)
//   AGENT_KEY        a named key for every channel ("alice")
//   LIMITED_KEY      a named key limited to LIMITED_CHANNEL
//   LIMITED_CHANNEL, OTHER_CHANNEL, OTHER_IGSID (a conversation the limited key must not see)
//   OUT_DIR          where screenshots and the JSON report go
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
// It prints one JSON line per step and exits non-zero on the first failure.
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tools', 'package.json'));
const { chromium } = require('playwright-core');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('CONSOLE_URL');
const SIM = env('SIM_URL');
const OUT = env('OUT_DIR');
const origin = new URL(BASE).origin;
mkdirSync(OUT, { recursive: true });

const PICTURE = '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"><rect width="240" height="160" fill="#c9c3ff"/>' +
  '<text x="120" y="88" font-family="sans-serif" font-size="20" text-anchor="middle" fill="#3a2fb8">size chart</text></svg>';
const report = { steps: [], third_party: [], first_screen: [] };
const step = (name, extra = {}) => {
  const s = { step: name, at: new Date().toISOString(), ...extra };
  report.steps.push(s);
  console.log(JSON.stringify(s));
};
const fail = (msg) => { throw new Error(msg); };

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) fail(`POST ${url}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}
async function apiGet(p) {
  const r = await fetch(BASE + p, { headers: { Authorization: 'Bearer ' + env('ADMIN_TOKEN') } });
  if (!r.ok) fail(`GET ${p}: ${r.status}`);
  return r.json();
}

// newContext blocks and records every request that leaves the stack's origin.
async function newContext(browser, viewport, label) {
  const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  await ctx.route('**/*', (route) => {
    const u = route.request().url();
    if (new URL(u).origin !== origin) {
      const type = route.request().resourceType();
      report.third_party.push({ context: label, url: u, type });
      // A customer's attachment shown in a conversation (content, not part of the console):
      // a stand-in picture, so that the screenshots show how media render. Anything else is
      // refused, and fails the test below.
      if (type === 'image') return route.fulfill({ contentType: 'image/svg+xml', body: PICTURE });
      return route.abort();
    }
    return route.continue();
  });
  return ctx;
}

async function signIn(page, key) {
  await page.locator('#key').fill(key);
  await page.keyboard.press('Enter'); // keyboard only
  await page.locator('#app').waitFor({ state: 'visible', timeout: 30000 });
}

async function agentScenario(browser) {
  const ctx = await newContext(browser, { width: 1280, height: 800 }, 'agent');
  const page = await ctx.newPage();
  const seen = [];
  page.on('request', (r) => seen.push(r.url()));

  // First screen: the HTML, then its static files in one round, nothing else but the session probe.
  await page.goto(BASE + '/', { waitUntil: 'load' });
  await page.locator('#signin').waitFor({ state: 'visible' });
  report.first_screen = seen.slice();
  const statics = seen.filter((u) => !u.includes('/api/')).map((u) => new URL(u).pathname).sort();
  const want = ['/', '/console/app.css', '/console/app.js', '/console/icon.svg'];
  if (JSON.stringify(statics) !== JSON.stringify(want)) fail(`first screen loaded ${JSON.stringify(statics)}, want ${JSON.stringify(want)}`);
  const csp = (await page.request.get(BASE + '/')).headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'")) fail('no CSP on /: ' + csp);
  step('first_screen', { requests: seen.length });

  await signIn(page, env('AGENT_KEY'));
  step('signed_in');

  // A customer writes (through the simulator's signed webhook): it shows up without a reload.
  const igsid = '55577' + String(Date.now()).slice(-8);
  const text = 'Bonjour, ça va? Do you ship to Lyon? \u{1F600}';
  const navigations = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
  const sent = Date.now();
  await post(SIM + '/_sim/message', { igsid, text });
  const item = page.locator('#convs li', { hasText: igsid.slice(-4) });
  await item.first().waitFor({ timeout: 30000 });
  const listMS = Date.now() - sent;
  // The latency is reported, not asserted (a loaded machine must not fail the test): the
  // console polls every 3 s, so it is 3 s plus processing on an idle stack.
  step('message_in_list', { ms: listMS });
  if (report.third_party.length) fail('third-party requests before any conversation was opened: ' + JSON.stringify(report.third_party));
  await item.first().locator('button').click();
  await page.locator('#messages li.incoming', { hasText: 'Do you ship to Lyon?' }).waitFor({ timeout: 30000 });
  step('conversation_open');

  // A second message arrives live in the open conversation; the scroll position is kept.
  const sent2 = Date.now();
  await post(SIM + '/_sim/message', { igsid, text: 'Also: what sizes?' });
  await page.locator('#messages li.incoming', { hasText: 'what sizes?' }).waitFor({ timeout: 30000 });
  const liveMS = Date.now() - sent2;
  step('message_live', { ms: liveMS });
  if (navigations.length) fail('the page reloaded: ' + navigations.join(', '));

  // Reply with text and an image (keyboard: type, then Ctrl+Enter).
  await page.locator('#text').fill('Oui! Here is the size chart');
  if ((await page.locator('#counter').textContent()) !== '27 / 1000') fail('counter: ' + await page.locator('#counter').textContent());
  await page.locator('#add-att').click();
  await page.locator('#atts input[type=url]').fill('https://example.com/size-chart.jpg');
  await page.locator('#text').focus();
  await page.keyboard.press('Control+Enter');
  const outgoing = page.locator('#messages li.outgoing');
  await page.waitForFunction(() => document.querySelectorAll('#messages li.outgoing').length === 2, null, { timeout: 30000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#messages li.outgoing [data-status]')].every((e) => e.dataset.status === 'sent'), null, { timeout: 30000 });
  step('reply_sent');
  for (const m of await outgoing.all()) {
    const meta = await m.locator('.meta').textContent();
    if (!meta.includes('alice')) fail('outgoing bubble without its sender: ' + meta);
  }
  if (await outgoing.nth(1).locator('img').count() !== 1) fail('the image part is not shown as an image');

  // The customer reads it: both parts turn read.
  const convs = await apiGet('/api/conversations');
  const conv = convs.conversations.find((c) => c.contact.igsid === igsid);
  const msgs = await apiGet(`/api/conversations/${conv.id}/messages`);
  const last = msgs.messages.filter((m) => m.direction === 'outgoing').pop();
  if (!last.sent_by || last.sent_by.name !== 'alice') fail('sent_by in the API: ' + JSON.stringify(last.sent_by));
  const readAt = Date.now();
  await post(SIM + '/_sim/read', { igsid, mid: last.mid });
  await page.waitForFunction(() => [...document.querySelectorAll('#messages li.outgoing [data-status]')].every((e) => e.dataset.status === 'read'), null, { timeout: 30000 });
  step('reply_read', { ms: Date.now() - readAt });
  await page.screenshot({ path: path.join(OUT, 'console-desktop.png') });

  // Resolve, then sign out.
  await page.locator('#resolve').click();
  await page.locator('#resolve', { hasText: 'Reopen' }).waitFor({ timeout: 30000 });
  const after = await apiGet(`/api/conversations/${conv.id}/messages`);
  const resolved = (await apiGet('/api/conversations?status=resolved')).conversations.find((c) => c.id === conv.id);
  if (!resolved || !resolved.status_changed_by || resolved.status_changed_by.name !== 'alice') fail('resolved conversation: ' + JSON.stringify(resolved));
  step('resolved', { messages: after.messages.length });

  await page.locator('#signout').click();
  await page.locator('#signin').waitFor({ state: 'visible' });
  const status = await page.evaluate(async () => (await fetch('/api/session')).status);
  if (status !== 401) fail('after sign out GET /api/session = ' + status);
  step('signed_out');
  await ctx.close();
}

async function limitedScenario(browser) {
  const ctx = await newContext(browser, { width: 375, height: 740 }, 'limited');
  const page = await ctx.newPage();
  await page.goto(BASE + '/');
  await signIn(page, env('LIMITED_KEY'));
  await page.locator('#convs li').first().waitFor({ timeout: 30000 });
  const options = await page.locator('#channel option').evaluateAll((os) => os.map((o) => o.value));
  if (JSON.stringify(options) !== JSON.stringify(['', env('LIMITED_CHANNEL')])) fail('channels offered to the limited key: ' + JSON.stringify(options));
  const items = await page.locator('#convs li').count();
  const list = await page.locator('#convs').textContent();
  if (list.includes(env('OTHER_IGSID').slice(-4))) fail('the limited key sees the other channel\'s conversation');
  const banners = await page.locator('#banners').textContent();
  if (banners.includes(env('OTHER_CHANNEL'))) fail('the limited key sees the other channel\'s banner');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > 375) fail(`the console is ${width} px wide on a 375 px phone`);
  await page.screenshot({ path: path.join(OUT, 'console-phone-limited.png') });
  await page.locator('#convs li button').first().click();
  await page.locator('#thread').waitFor({ state: 'visible' });
  if (await page.locator('#list').isVisible()) fail('on a phone the list stays beside the open conversation');
  await page.screenshot({ path: path.join(OUT, 'console-phone-conversation.png') });
  step('limited_key', { conversations: items });
  await ctx.close();
}

let code = 0;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  await agentScenario(browser);
  await limitedScenario(browser);
  // Only customers' attachments (images and media inside a conversation) may leave the origin.
  const stray = report.third_party.filter((r) => r.type !== 'image' && r.type !== 'media');
  if (stray.length) fail('third-party requests: ' + JSON.stringify(stray));
  if (report.first_screen.some((u) => new URL(u).origin !== origin)) fail('third-party request on the first screen');
  step('ok');
} catch (e) {
  code = 1;
  console.log(JSON.stringify({ step: 'failed', error: String(e && e.stack || e) }));
} finally {
  writeFileSync(path.join(OUT, 'report.json'), JSON.stringify(report, null, 2));
  await browser.close();
}
process.exit(code);
