// MedLedger end to end, in a real browser: headless Chromium (Debian's) driven by playwright-core,
// on the real pages of a running `medledger` server. Each user gets their own browser context and
// an injected EIP-1193 wallet (announced through EIP-6963) that signs with a real key, in Node,
// with ethers: the pages see a wallet like any other.
//
//   node e2e/flow.mjs BASE_URL SCREENSHOT_DIR
//
// The story: a doctor applies, the admin approves; the doctor registers a patient and writes a
// diagnosis and a medication; the patient sees them verified and revokes the doctor's access; the
// doctor is refused, then opens emergency access; the patient sees it highlighted. Along the way:
// a declined signature, a request left unsigned and declined from the page, a wallet on the wrong chain, an account switch that signs the user out,
// and the demo wallet (keys kept in the browser) signing in and approving a doctor.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Wallet, getBytes } from 'ethers';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: node e2e/flow.mjs BASE_URL SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const executablePath = process.env.MEDLEDGER_CHROMIUM || '/usr/bin/chromium';
const ready = await (await fetch(`${base}/readyz`)).json();
const CHAIN = Number(ready.chainId);
// Anvil's (and MedLedger's demo) development account 0: the demo hospital's admin.
const ADMIN_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

const step = (text) => console.log(`- ${text}`);
// axe-core checks each page against WCAG 2 A and AA (labels, contrast, names, landmarks…).
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });

/** A browser context whose pages carry an EIP-1193 wallet holding `wallet`'s key. */
async function userWith(wallet, { chainId = CHAIN } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const log = [];
  const state = { chainId, rejectNext: false, wallet };
  await context.exposeBinding('__medledgerTestWallet', async (_source, method, params) => {
    log.push(method);
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [state.wallet.address];
      case 'eth_chainId':
        return '0x' + state.chainId.toString(16);
      case 'wallet_switchEthereumChain':
        state.chainId = Number(params[0].chainId);
        return null;
      case 'personal_sign':
        return state.wallet.signMessage(getBytes(params[0]));
      case 'eth_signTypedData_v4': {
        if (state.rejectNext) {
          state.rejectNext = false;
          return { error: { code: 4001, message: 'User rejected the request.' } };
        }
        const typed = JSON.parse(params[1]);
        check(params[0].toLowerCase() === state.wallet.address.toLowerCase(), 'the page asks the signed-in account to sign');
        const { EIP712Domain: _, ...types } = typed.types;
        return state.wallet.signTypedData(typed.domain, types, typed.message);
      }
      default:
        return { error: { code: 4200, message: `unsupported: ${method}` } };
    }
  });
  await context.addInitScript(() => {
    const listeners = {};
    const provider = {
      async request({ method, params = [] }) {
        const answer = await window.__medledgerTestWallet(method, params);
        if (answer && answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
        return answer;
      },
      on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
      removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
    };
    window.__emitWalletEvent = (event, value) => (listeners[event] || []).forEach((fn) => fn(value));
    const info = { uuid: '00000000-0000-4000-8000-000000000001', name: 'Test wallet', icon: '', rdns: 'org.medledger.test-wallet' };
    const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
    window.addEventListener('eip6963:requestProvider', announce);
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`  page error: ${error.message}`));
  return { context, page, log, state, wallet };
}

async function status(page) {
  return (await page.locator('#flow-status').textContent()) || '';
}

/** Waits until the status line starts with `prefix` (or fails with what it says). */
async function statusStarts(page, prefix, timeout = 60_000) {
  try {
    await page.waitForFunction(
      (p) => (document.getElementById('flow-status')?.textContent || '').startsWith(p),
      prefix,
      { timeout },
    );
  } catch (error) {
    throw new Error(`waited for "${prefix}…", the page says: "${await status(page)}"`);
  }
}

/** Reloads `url` until `text` is on the page (the indexer follows the chain a moment behind). */
async function untilText(page, url, text, timeout = 60_000) {
  const end = Date.now() + timeout;
  for (;;) {
    await page.goto(url);
    if ((await page.locator('main').textContent()).includes(text)) return;
    if (Date.now() > end) throw new Error(`${url} never showed "${text}"`);
    await page.waitForTimeout(500);
  }
}

async function signIn(user, expectPath) {
  await user.page.goto(`${base}/`);
  await user.page.getByRole('button', { name: 'Sign in with Test wallet' }).click();
  await signedIn(user.page, expectPath);
}

/** Waits until the page at `path` shows a signed-in header. */
async function signedIn(page, path) {
  try {
    await page.waitForURL((url) => url.pathname === path, { timeout: 30_000 });
    await page.locator('[data-sign-out]').waitFor({ timeout: 30_000 });
  } catch (error) {
    throw new Error(`sign-in did not reach ${path}; the page says: "${await status(page)}"`);
  }
}

/** Saves a screenshot of the page and checks it with axe-core (WCAG 2 A and AA). */
async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  // Evaluated through the DevTools protocol, so the page's CSP (no eval) does not apply to it.
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  });
  check(violations.length === 0, `${name} passes axe-core's WCAG 2 A/AA checks:\n  ${violations.join('\n  ')}`);
}

const admin = await userWith(new Wallet(ADMIN_KEY));
const doctor = await userWith(Wallet.createRandom());
// The patient's wallet starts on another chain: sign-in asks it to switch.
const patient = await userWith(Wallet.createRandom(), { chainId: 1 });

try {
  step('the sign-in page lists the injected wallet (EIP-6963) beside the demo wallet');
  await doctor.page.goto(`${base}/`);
  await doctor.page.getByRole('button', { name: 'Sign in with Test wallet' }).waitFor();
  await shot(doctor.page, 'sign-in');

  step('a doctor signs in and applies');
  await signIn(doctor, '/');
  await doctor.page.goto(`${base}/register_doctor`);
  await doctor.page.getByLabel('Your name').fill('Dr. Grace Hopper');
  await doctor.page.getByLabel('Licence number').fill('GMC-7654321');
  await doctor.page.getByLabel('Speciality').fill('Cardiology');
  await doctor.page.getByRole('button', { name: 'Apply' }).click();
  await statusStarts(doctor.page, 'Saved');
  await doctor.page.reload();
  check((await doctor.page.locator('main').textContent()).includes('waiting for an admin'), 'the application waits for an admin');
  await shot(doctor.page, 'register_doctor');

  step('the admin approves the doctor, signing with their wallet');
  await signIn(admin, '/admin');
  const row = admin.page.locator('tr', { hasText: 'Dr. Grace Hopper' });
  await row.getByRole('button', { name: 'Approve' }).click();
  await statusStarts(admin.page, 'Anchored');
  check(admin.log.includes('eth_signTypedData_v4'), 'the approval was signed with EIP-712');
  await untilText(admin.page, `${base}/admin`, 'approved');

  step('the doctor registers a patient');
  await untilText(doctor.page, `${base}/register_patient`, 'Full name');
  await doctor.page.getByLabel("The patient's wallet address").fill(patient.wallet.address);
  await doctor.page.getByLabel('Full name').fill('Ada Lovelace');
  await doctor.page.getByLabel('Date of birth').fill('1815-12-10');
  await doctor.page.getByLabel('Phone or e-mail').fill('ada@example.org');
  await shot(doctor.page, 'register_patient');
  await doctor.page.getByRole('button', { name: 'Sign and register' }).click();
  await statusStarts(doctor.page, 'Anchored');

  step('the patient appears in the doctor\'s list; the doctor opens the record');
  await untilText(doctor.page, `${base}/doctor_dashboard`, 'Ada Lovelace');
  await doctor.page.getByRole('link', { name: 'Open record' }).first().click();
  await doctor.page.waitForURL(/patient=/);
  const recordUrl = doctor.page.url();
  const patientId = new URL(recordUrl).searchParams.get('patient');

  step('a declined signature is reported, and nothing is sent');
  doctor.state.rejectNext = true;
  await doctor.page.getByLabel('Kind').selectOption('diagnosis');
  await doctor.page.getByLabel('What (diagnosis').fill('Declined entry');
  await doctor.page.getByRole('button', { name: 'Sign and add' }).click();
  await statusStarts(doctor.page, 'You declined to sign');

  step('the doctor adds a diagnosis and a medication, each anchored without a reload');
  await doctor.page.getByLabel('Kind').selectOption('diagnosis');
  await doctor.page.getByLabel('What (diagnosis').fill('Type 2 diabetes mellitus');
  await doctor.page.getByLabel('Detail').fill('HbA1c 7.9% on 2026-11-20');
  await doctor.page.getByRole('button', { name: 'Sign and add' }).click();
  await statusStarts(doctor.page, 'Anchored');
  await doctor.page.getByLabel('Kind').selectOption('medication');
  await doctor.page.getByLabel('What (diagnosis').fill('Metformin');
  await doctor.page.getByLabel('Detail').fill('500 mg twice daily');
  await doctor.page.getByRole('button', { name: 'Sign and add' }).click();
  await statusStarts(doctor.page, 'Anchored');
  await untilText(doctor.page, recordUrl, 'Metformin');
  await shot(doctor.page, 'doctor_dashboard');

  step('a request the wallet never signed is listed on the page, and the doctor declines it there');
  const left = await doctor.page.evaluate(async (id) => {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const response = await fetch(`/api/v1/patients/${id}/records`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ kind: 'note', content: { resourceType: 'Basic', code: { text: 'Left unsigned' } } }),
    });
    return (await response.json()).requestId;
  }, patientId);
  check(Number.isInteger(left), 'the unsigned request was made');
  await doctor.page.goto(recordUrl);
  await shot(doctor.page, 'doctor_unsigned');
  await doctor.page.getByRole('button', { name: `Decline request ${left}` }).click();
  await statusStarts(doctor.page, `Declined request ${left}`);
  check(!(await doctor.page.locator('main').textContent()).includes('Waiting for your signature'), 'the declined request is no longer listed');

  step('the patient signs in (the wallet is asked to switch chains) and sees every entry verified');
  await signIn(patient, '/patient_dashboard');
  check(patient.log.includes('wallet_switchEthereumChain') && patient.state.chainId === CHAIN, 'the wallet was switched to this chain');
  const verifiedAll = async () => {
    await patient.page.goto(`${base}/patient_dashboard`);
    const rows = await patient.page.locator('section[aria-labelledby="h-history"] tbody tr').allTextContents();
    return rows.filter((r) => r.includes('Verified')).length === 3;
  };
  for (let i = 0; !(await verifiedAll()); i++) {
    if (i > 60) throw new Error('the patient\'s entries never all showed Verified');
    await patient.page.waitForTimeout(500);
  }
  const history = await patient.page.locator('section[aria-labelledby="h-history"]').textContent();
  check(history.includes('Type 2 diabetes mellitus') && history.includes('Metformin'), 'the patient reads both entries');
  check(!history.includes('Declined entry') && !history.includes('Rejected'), 'a write its author never signed is not part of the patient\'s record');
  await doctor.page.goto(recordUrl);
  const declined = await doctor.page.locator('tr', { hasText: 'never signed' }).first().textContent();
  check(declined.includes('Rejected') && declined.includes('declined') && !declined.includes('Declined entry'), 'its author sees it declined, its content erased');
  await shot(patient.page, 'patient_dashboard');
  await patient.page.setViewportSize({ width: 390, height: 844 });
  await shot(patient.page, 'patient_dashboard_phone');
  const overflow = await patient.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  check(!overflow, 'on a phone the page does not scroll sideways (tables scroll inside their box)');
  await patient.page.setViewportSize({ width: 1200, height: 900 });

  step('the patient revokes the doctor\'s access');
  await patient.page.locator('section[aria-labelledby="h-access"] tr', { hasText: 'Dr. Grace Hopper' })
    .getByRole('button', { name: 'Revoke' }).click();
  await statusStarts(patient.page, 'Anchored');

  step('the doctor is refused, on the page and by the API');
  await untilText(doctor.page, recordUrl, 'You have no access to this record');
  const refused = await doctor.page.evaluate(async (id) => (await fetch(`/api/v1/patients/${id}/records`)).status, patientId);
  check(refused === 403, `the API refuses the doctor (got ${refused})`);

  step('the doctor opens emergency access with a reason, and can read again');
  await doctor.page.getByLabel('Reason').fill('Unconscious in the emergency room; allergies unknown');
  await doctor.page.getByLabel('For how many minutes').fill('30');
  await doctor.page.getByRole('button', { name: 'Open emergency access' }).click();
  await statusStarts(doctor.page, 'Anchored');
  await untilText(doctor.page, recordUrl, 'Metformin');
  await shot(doctor.page, 'doctor_emergency');

  step('the patient sees the emergency access, highlighted, with its reason');
  await untilText(patient.page, `${base}/patient_dashboard`, 'Unconscious in the emergency room');
  check(await patient.page.locator('tr.emergency').count() > 0, 'emergency rows are highlighted');
  await shot(patient.page, 'patient_emergency');

  step('the admin runs the verification report: every entry and the audit log match the chain');
  await admin.page.goto(`${base}/admin?verify=1`);
  const report = await admin.page.locator('section[aria-labelledby="h-verify"]').textContent();
  check(report.includes('Clean'), `the verification report is clean: ${report}`);
  await shot(admin.page, 'admin');

  step('switching the wallet to another account signs the doctor out');
  await doctor.page.evaluate(() => window.__emitWalletEvent('accountsChanged', ['0x0000000000000000000000000000000000000001']));
  await doctor.page.waitForURL(/signed_out=account/);
  const after = await doctor.page.evaluate(async () => (await fetch('/api/v1/auth/session')).status);
  check(after === 401, `the session ended on the server (got ${after})`);

  step('the demo wallet: a new account made in the browser signs in and applies; the demo admin approves it');
  const demo = await browser.newContext();
  const demoPage = await demo.newPage();
  demoPage.on('dialog', (dialog) => dialog.accept());
  demoPage.on('pageerror', (error) => console.error(`  page error: ${error.message}`));
  await demoPage.goto(`${base}/`);
  await demoPage.getByRole('button', { name: /Sign in with Demo wallet/ }).click();
  await demoPage.getByLabel('New account name').fill('Dr. Demo');
  await demoPage.getByRole('button', { name: 'Create a new account' }).click();
  await signedIn(demoPage, '/');
  await demoPage.goto(`${base}/register_doctor`);
  await demoPage.getByLabel('Your name').fill('Dr. Demo Wallet');
  await demoPage.getByLabel('Licence number').fill('DEMO-1');
  await demoPage.getByRole('button', { name: 'Apply' }).click();
  await statusStarts(demoPage, 'Saved');
  await demoPage.getByRole('button', { name: 'Sign out' }).click();
  await demoPage.waitForURL(`${base}/`);
  await demoPage.getByRole('button', { name: /Sign in with Demo wallet/ }).click();
  await demoPage.getByRole('button', { name: /Demo admin/ }).click();
  await signedIn(demoPage, '/admin');
  await demoPage.locator('tr', { hasText: 'Dr. Demo Wallet' }).getByRole('button', { name: 'Approve' }).click();
  await statusStarts(demoPage, 'Anchored');
  await demo.close();

  console.log('end-to-end: every step passed');
} catch (error) {
  for (const [name, user] of Object.entries({ admin, doctor, patient })) {
    await user.page.screenshot({ path: join(shots, `failure-${name}.png`), fullPage: true }).catch(() => {});
  }
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
