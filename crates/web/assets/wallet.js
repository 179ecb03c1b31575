// MedLedger's pages: wallet discovery (EIP-6963, else window.ethereum), Sign-In with Ethereum
// (EIP-4361), and the one flow every change follows: send the form to the JSON API, have the
// wallet sign the EIP-712 request it returns (eth_signTypedData_v4), hand the signature back,
// and follow the request until it is anchored or rejected, without reloading the page.
// The server never sees a private key: the wallet signs, the page only carries signatures.
'use strict';

(function () {
  // ---------------------------------------------------------------- keccak-256 (for EIP-55)
  const MASK = (1n << 64n) - 1n;
  const RC = [
    0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n,
    0x000000000000808bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
    0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
    0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
    0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
    0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
  ];
  // ROT[x][y]: the rotation of lane (x, y).
  const ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]];
  const rotl = (v, n) => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK);

  function permute(s) {
    const c = new Array(5);
    const b = new Array(25);
    for (let round = 0; round < 24; round++) {
      for (let x = 0; x < 5; x++) c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
      for (let x = 0; x < 5; x++) {
        const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
        for (let y = 0; y < 25; y += 5) s[y + x] ^= d;
      }
      for (let x = 0; x < 5; x++) {
        for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(s[x + 5 * y], ROT[x][y]);
      }
      for (let x = 0; x < 5; x++) {
        for (let y = 0; y < 5; y++) {
          s[x + 5 * y] = b[x + 5 * y] ^ (~b[((x + 1) % 5) + 5 * y] & MASK & b[((x + 2) % 5) + 5 * y]);
        }
      }
      s[0] ^= RC[round];
    }
  }

  /** keccak256(bytes) as a Uint8Array of 32 bytes. */
  function keccak256(bytes) {
    const rate = 136;
    const padded = new Uint8Array(Math.floor(bytes.length / rate + 1) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    const s = new Array(25).fill(0n);
    for (let off = 0; off < padded.length; off += rate) {
      for (let i = 0; i < rate / 8; i++) {
        let lane = 0n;
        for (let j = 7; j >= 0; j--) lane = (lane << 8n) | BigInt(padded[off + i * 8 + j]);
        s[i] ^= lane;
      }
      permute(s);
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 4; i++) {
      let lane = s[i];
      for (let j = 0; j < 8; j++) {
        out[i * 8 + j] = Number(lane & 0xffn);
        lane >>= 8n;
      }
    }
    return out;
  }

  const utf8 = (text) => new TextEncoder().encode(text);
  const toHex = (bytes) => '0x' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  function fromHex(hex) {
    const h = hex.startsWith('0x') ? hex.slice(2) : hex;
    if (h.length % 2 || /[^0-9a-fA-F]/.test(h)) throw new Error('not hexadecimal: ' + hex);
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
    return out;
  }

  /** EIP-55 mixed-case checksum of an address. */
  function checksum(address) {
    const lower = address.toLowerCase().replace(/^0x/, '');
    const hash = toHex(keccak256(utf8(lower))).slice(2);
    let out = '0x';
    for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    return out;
  }

  window.MedLedgerCrypto = { keccak256, utf8, toHex, fromHex, checksum };

  // ---------------------------------------------------------------- the page
  const body = () => document.body;
  const chainId = () => Number(body().dataset.chainId);
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || '';
  const statusBox = () => document.getElementById('flow-status');

  function say(text, kind) {
    const box = statusBox();
    if (!box) return;
    box.className = kind || '';
    box.textContent = text;
  }

  class ApiError extends Error {}

  async function api(method, url, payload) {
    const headers = { Accept: 'application/json' };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf();
    const response = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!response.ok) {
      throw new ApiError((data && (data.detail || data.title)) || `the server answered ${response.status}`);
    }
    return data;
  }

  // ---------------------------------------------------------------- wallets (EIP-6963, EIP-1193)
  const wallets = new Map(); // rdns -> { info, provider }

  function announce(detail) {
    if (!detail || !detail.info || !detail.provider) return;
    wallets.set(detail.info.rdns || detail.info.uuid, detail);
    renderWallets();
  }
  window.addEventListener('eip6963:announceProvider', (event) => announce(event.detail));

  function discover() {
    window.dispatchEvent(new Event('eip6963:requestProvider'));
    return new Promise((resolve) => setTimeout(() => {
      // A wallet that predates EIP-6963 only sets window.ethereum.
      if (wallets.size === 0 && window.ethereum) {
        announce({ info: { rdns: 'injected', name: 'Browser wallet', icon: '' }, provider: window.ethereum });
      }
      resolve(wallets);
    }, 300));
  }

  function describe(error) {
    if (error && error.code === 4001) return 'You declined the request in your wallet; nothing was sent.';
    if (error && error.code === 4100) return 'The wallet has not authorised this site: connect it first.';
    if (error instanceof ApiError) return error.message;
    return (error && error.message) || String(error);
  }

  /** Makes sure the wallet is on this hospital's chain, offering to switch (or add) it. */
  async function ensureChain(provider) {
    const current = Number(await provider.request({ method: 'eth_chainId' }));
    if (current === chainId()) return;
    const hex = '0x' + chainId().toString(16);
    say(`Your wallet is on chain ${current}, this hospital is on chain ${chainId()}: asking your wallet to switch.`);
    try {
      await provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: hex }] });
    } catch (error) {
      if (error && error.code === 4902 && body().dataset.rpc) {
        await provider.request({
          method: 'wallet_addEthereumChain',
          params: [{
            chainId: hex,
            chainName: 'MedLedger (' + location.host + ')',
            rpcUrls: [location.origin + body().dataset.rpc],
            nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
          }],
        });
      } else {
        throw new Error(`Switch your wallet to chain ${chainId()} and try again (${describe(error)})`);
      }
    }
  }

  function siweMessage(address, nonce) {
    const now = new Date();
    const expires = new Date(now.getTime() + 10 * 60 * 1000);
    return [
      `${location.host} wants you to sign in with your Ethereum account:`,
      checksum(address),
      '',
      'Sign in to MedLedger. This signature opens a session; it moves no funds.',
      '',
      `URI: ${location.origin}`,
      'Version: 1',
      `Chain ID: ${chainId()}`,
      `Nonce: ${nonce}`,
      `Issued At: ${now.toISOString()}`,
      `Expiration Time: ${expires.toISOString()}`,
    ].join('\n');
  }

  async function signIn(key) {
    const wallet = wallets.get(key);
    if (!wallet) return;
    const provider = wallet.provider;
    try {
      say(`Asking ${wallet.info.name} for your account…`);
      const accounts = await provider.request({ method: 'eth_requestAccounts' });
      if (!accounts || accounts.length === 0) throw new Error('The wallet shared no account.');
      await ensureChain(provider);
      const { nonce } = await api('GET', '/api/v1/auth/nonce');
      const message = siweMessage(accounts[0], nonce);
      say('Sign the sign-in message in your wallet.');
      const signature = await provider.request({ method: 'personal_sign', params: [toHex(utf8(message)), accounts[0]] });
      await api('POST', '/api/v1/auth/login', { message, signature });
      sessionStorage.setItem('medledger.wallet', key);
      const session = await api('GET', '/api/v1/auth/session');
      const next = document.getElementById('sign-in')?.dataset.next;
      const roles = session.roles || {};
      location.assign(next || (roles.admin ? '/admin' : roles.doctor ? '/doctor_dashboard'
        : roles.patient ? '/patient_dashboard' : '/'));
    } catch (error) {
      say(describe(error), 'bad');
    }
  }

  function renderWallets() {
    const list = document.getElementById('wallets');
    if (!list) return;
    list.textContent = '';
    if (wallets.size === 0) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = 'No wallet found in this browser. Install one (MetaMask, Rabby, …)'
        + (body().dataset.demo === '1' ? ' or use the demo wallet.' : '.');
      list.append(p);
      return;
    }
    for (const [key, { info }] of wallets) {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.wallet = key;
      if (info.icon && /^data:image\//.test(info.icon)) {
        const img = document.createElement('img');
        img.src = info.icon;
        img.alt = '';
        button.append(img);
      }
      button.append(document.createTextNode('Sign in with ' + info.name));
      button.addEventListener('click', () => signIn(key));
      list.append(button);
    }
  }

  /** The wallet this session signed in with, connected to the session's account. */
  async function sessionWallet() {
    await discover();
    const key = sessionStorage.getItem('medledger.wallet');
    const wallet = (key && wallets.get(key)) || (wallets.size === 1 ? wallets.values().next().value : null);
    if (!wallet) throw new Error('Your wallet is not available in this tab: sign out and sign in again.');
    const expected = body().dataset.address.toLowerCase();
    let accounts = await wallet.provider.request({ method: 'eth_accounts' });
    if (!accounts.map((a) => a.toLowerCase()).includes(expected)) {
      accounts = await wallet.provider.request({ method: 'eth_requestAccounts' });
    }
    if (!accounts.map((a) => a.toLowerCase()).includes(expected)) {
      throw new Error(`Your wallet's account is not ${expected}, the one signed in: sign in again.`);
    }
    await ensureChain(wallet.provider);
    return wallet.provider;
  }

  async function signOut(why) {
    try { await api('POST', '/api/v1/auth/logout'); } catch (_) { /* the session may already be gone */ }
    sessionStorage.removeItem('medledger.wallet');
    location.assign('/' + (why ? '?signed_out=' + encodeURIComponent(why) : ''));
  }

  /** Signs the user out when the wallet changes account or chain under a signed-in page. */
  async function watchWallet() {
    if (!body().dataset.address) return;
    await discover();
    const key = sessionStorage.getItem('medledger.wallet');
    const wallet = key && wallets.get(key);
    if (!wallet || typeof wallet.provider.on !== 'function') return;
    wallet.provider.on('accountsChanged', (accounts) => {
      const now = (accounts && accounts[0] || '').toLowerCase();
      if (now !== body().dataset.address.toLowerCase()) signOut('account');
    });
    wallet.provider.on('chainChanged', (id) => {
      if (Number(id) !== chainId()) signOut('chain');
    });
  }

  // ---------------------------------------------------------------- forms: the signed-write flow
  const FHIR = {
    diagnosis: (title, detail) => ({ resourceType: 'Condition', code: { text: title }, ...(detail ? { note: [{ text: detail }] } : {}) }),
    medication: (title, detail) => ({ resourceType: 'MedicationStatement', status: 'active', medicationCodeableConcept: { text: title }, ...(detail ? { dosage: [{ text: detail }] } : {}) }),
    observation: (title, detail) => ({ resourceType: 'Observation', status: 'final', code: { text: title }, ...(detail ? { valueString: detail } : {}) }),
    note: (title, detail) => ({ resourceType: 'Basic', code: { text: title }, ...(detail ? { note: [{ text: detail }] } : {}) }),
    allergy: (title, detail) => ({ resourceType: 'AllergyIntolerance', code: { text: title }, ...(detail ? { note: [{ text: detail }] } : {}) }),
  };

  /** The JSON body of a form, by its data-build. */
  function build(form) {
    const f = Object.fromEntries(new FormData(form).entries());
    switch (form.dataset.build) {
      case 'none': return undefined;
      case 'record': {
        const content = FHIR[f.kind](f.title.trim(), (f.detail || '').trim());
        return { kind: f.kind, content, ...(f.amends ? { amends: f.amends } : {}) };
      }
      case 'consent': {
        const out = { doctor: f.doctor };
        if (f.expiresAt) out.expiresAt = Math.floor(new Date(f.expiresAt + 'T23:59:59').getTime() / 1000);
        return out;
      }
      case 'emergency': return { reason: f.reason, durationSecs: Math.round(Number(f.minutes) * 60) };
      default: return f;
    }
  }

  /**
   * Follows a signed request until it is anchored (its status) or refused (thrown). A request
   * re-offered for signature (an earlier one of the signer was declined or refused, so it moved
   * to a new nonce) comes back with its new typed data: the answer, to sign again.
   */
  async function follow(id) {
    say(`Request ${id}: pending…`);
    // Long polls: each answers as soon as the request is anchored, rejected or re-offered, or after 20 s.
    for (let i = 0; i < 15; i++) {
      const request = await api('GET', `/api/v1/requests/${id}?wait=20`);
      if (request.status === 'anchored') return request;
      if (request.status === 'rejected') throw new ApiError('The contract refused it: ' + (request.reason || 'no reason given'));
      if (request.status === 'awaiting-signature' && request.typedData) return request;
      say(`Request ${id}: ${request.status.replace('-', ' ')}…`);
    }
    throw new Error(`Request ${id} is still pending; it will be anchored when the chain catches up.`);
  }

  /** Has the wallet sign a request's typed data, posts the signature and follows it until anchored. */
  async function signAndFollow(answer) {
    const provider = await sessionWallet();
    for (let round = 0; round < 5; round++) {
      say(round === 0
        ? `Request ${answer.requestId}: sign it in your wallet.`
        : `Request ${answer.requestId} was offered again (${answer.reason || 'an earlier request was declined'}): sign it in your wallet.`);
      let signature;
      try {
        signature = await provider.request({
          method: 'eth_signTypedData_v4',
          params: [body().dataset.address, JSON.stringify(answer.typedData)],
        });
      } catch (error) {
        if (error && error.code === 4001) {
          await api('DELETE', `/api/v1/requests/${answer.requestId}`).catch(() => {});
          throw new Error('You declined to sign; nothing was sent to the chain. Submit again to retry.');
        }
        throw error;
      }
      await api('POST', `/api/v1/requests/${answer.requestId}/signature`, { signature });
      const done = await follow(answer.requestId);
      if (done.status === 'anchored') return done;
      answer = { ...done, requestId: answer.requestId };
    }
    throw new Error(`Request ${answer.requestId} keeps coming back for a signature; try again later.`);
  }

  /** Replaces the page's content with a fresh copy, keeping the status line. */
  async function refresh() {
    const response = await fetch(location.href, { credentials: 'same-origin' });
    const html = await response.text();
    const fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('main');
    if (fresh) document.getElementById('main').replaceWith(fresh);
  }

  async function submit(form) {
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      say('Sending…');
      const answer = await api(form.dataset.method, form.dataset.url, build(form));
      if (answer && answer.typedData) {
        const done = await signAndFollow(answer);
        await refresh();
        say(`Anchored: request ${answer.requestId} is in block ${done.blockNumber} (transaction ${done.txHash}).`, 'ok');
      } else {
        await refresh();
        say(form.dataset.done || 'Saved.', 'ok');
      }
    } catch (error) {
      say(describe(error), 'bad');
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('api')) return;
    event.preventDefault();
    submit(form);
  });

  document.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest('[data-sign-out]')) signOut();
    const amend = target.closest('[data-amend]');
    if (amend) {
      const form = document.querySelector('form[data-build="record"]');
      form.elements.amends.value = amend.dataset.amend;
      if (FHIR[amend.dataset.kind]) form.elements.kind.value = amend.dataset.kind;
      form.elements.title.value = amend.dataset.what || '';
      form.querySelector('[data-amending]').textContent = amend.dataset.what || amend.dataset.amend;
      form.querySelector('.amending').hidden = false;
      form.elements.title.focus();
    }
    if (target.closest('[data-amend-cancel]')) {
      const form = target.closest('form');
      form.elements.amends.value = '';
      form.querySelector('.amending').hidden = true;
    }
  });

  document.addEventListener('DOMContentLoaded', async () => {
    const why = new URLSearchParams(location.search).get('signed_out');
    if (why === 'account') say('You were signed out because your wallet switched to another account.', 'bad');
    if (why === 'chain') say('You were signed out because your wallet switched to another chain.', 'bad');
    if (document.getElementById('wallets')) {
      await discover();
      renderWallets();
    }
    watchWallet();
  });
})();
