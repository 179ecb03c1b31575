// MedLedger's demo wallet, served only in demo mode: an EIP-1193 provider announced through
// EIP-6963, so the pages use it exactly as they use MetaMask. Keys are generated and kept in this
// browser (localStorage); the server never sees them. It signs sign-in messages (personal_sign)
// and EIP-712 requests (eth_signTypedData_v4); it sends no transactions. Not for real records.
'use strict';

(function () {
  const { keccak256, utf8, toHex, fromHex, checksum } = window.MedLedgerCrypto;

  // ---------------------------------------------------------------- secp256k1
  const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const G = [
    0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
    0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
  ];
  const mod = (a, m) => ((a % m) + m) % m;
  function inverse(a, m) {
    let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1] = [r1, r0 - q * r1];
      [s0, s1] = [s1, s0 - q * s1];
    }
    return mod(s0, m);
  }
  // Points in affine coordinates; null is the point at infinity.
  function add(a, b) {
    if (!a) return b;
    if (!b) return a;
    if (a[0] === b[0] && mod(a[1] + b[1], P) === 0n) return null;
    const l = a[0] === b[0]
      ? mod(3n * a[0] * a[0] * inverse(2n * a[1], P), P)
      : mod((b[1] - a[1]) * inverse(b[0] - a[0], P), P);
    const x = mod(l * l - a[0] - b[0], P);
    return [x, mod(l * (a[0] - x) - a[1], P)];
  }
  function multiply(k, point) {
    let result = null;
    let addend = point;
    while (k > 0n) {
      if (k & 1n) result = add(result, addend);
      addend = add(addend, addend);
      k >>= 1n;
    }
    return result;
  }
  const big = (bytes) => BigInt(toHex(bytes));
  const bytes32 = (n) => fromHex(n.toString(16).padStart(64, '0'));

  function randomScalar() {
    for (;;) {
      const k = big(crypto.getRandomValues(new Uint8Array(32)));
      if (k > 0n && k < N) return k;
    }
  }

  function addressOf(key) {
    const [x, y] = multiply(key, G);
    const pub = new Uint8Array(64);
    pub.set(bytes32(x), 0);
    pub.set(bytes32(y), 32);
    return checksum(toHex(keccak256(pub).slice(12)));
  }

  /** An Ethereum signature (r ‖ s ‖ v, v = 27 or 28, low s) of a 32-byte digest. */
  function sign(digest, key) {
    const z = big(digest);
    for (;;) {
      const k = randomScalar();
      const R = multiply(k, G);
      const r = mod(R[0], N);
      if (r === 0n) continue;
      let s = mod(inverse(k, N) * (z + r * key), N);
      if (s === 0n) continue;
      let recovery = Number(R[1] & 1n);
      if (s > N / 2n) {
        s = N - s;
        recovery ^= 1;
      }
      const out = new Uint8Array(65);
      out.set(bytes32(r), 0);
      out.set(bytes32(s), 32);
      out[64] = 27 + recovery;
      return toHex(out);
    }
  }

  // ---------------------------------------------------------------- EIP-712
  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) { out.set(p, off); off += p.length; }
    return out;
  }
  function dependencies(types, primary, found = new Set()) {
    if (found.has(primary) || !types[primary]) return found;
    found.add(primary);
    for (const field of types[primary]) dependencies(types, field.type.replace(/\[\d*\]$/, ''), found);
    return found;
  }
  function encodeType(types, primary) {
    const deps = [...dependencies(types, primary)].filter((t) => t !== primary).sort();
    return [primary, ...deps].map((t) => `${t}(${types[t].map((f) => `${f.type} ${f.name}`).join(',')})`).join('');
  }
  function encodeValue(types, type, value) {
    if (types[type]) return hashStruct(types, type, value);
    if (type === 'string') return keccak256(utf8(value));
    if (type === 'bytes') return keccak256(fromHex(value));
    if (type === 'address') return bytes32(BigInt(value));
    if (type === 'bool') return bytes32(value ? 1n : 0n);
    if (/^uint\d+$/.test(type)) return bytes32(BigInt(value));
    if (/^bytes\d+$/.test(type)) { const b = new Uint8Array(32); b.set(fromHex(value)); return b; }
    throw new Error('the demo wallet does not sign values of type ' + type);
  }
  function hashStruct(types, primary, data) {
    const typeHash = keccak256(utf8(encodeType(types, primary)));
    return keccak256(concat([typeHash, ...types[primary].map((f) => encodeValue(types, f.type, data[f.name]))]));
  }
  function typedDataDigest(typed) {
    const domain = hashStruct(typed.types, 'EIP712Domain', typed.domain);
    const message = hashStruct(typed.types, typed.primaryType, typed.message);
    return keccak256(concat([new Uint8Array([0x19, 0x01]), domain, message]));
  }
  function personalDigest(message) {
    return keccak256(concat([utf8(`\x19Ethereum Signed Message:\n${message.length}`), message]));
  }

  // ---------------------------------------------------------------- accounts, kept in this browser
  const STORE = 'medledger.demo-wallet.accounts';
  const SELECTED = 'medledger.demo-wallet.selected';
  // Public development account 0 (anvil's and MedLedger's --dev): the demo hospital's admin.
  const DEV_ADMIN = { label: 'Demo admin (public development account 0)', key: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80' };

  function accounts() {
    let list = [];
    try { list = JSON.parse(localStorage.getItem(STORE) || '[]'); } catch (_) { list = []; }
    return [DEV_ADMIN, ...list].map((a) => ({ ...a, address: a.address || addressOf(BigInt(a.key)) }));
  }
  function create(label) {
    const key = toHex(bytes32(randomScalar()));
    let list = [];
    try { list = JSON.parse(localStorage.getItem(STORE) || '[]'); } catch (_) { list = []; }
    const account = { label, key, address: addressOf(BigInt(key)) };
    list.push(account);
    localStorage.setItem(STORE, JSON.stringify(list));
    return account;
  }
  const selected = () => accounts().find((a) => a.address.toLowerCase() === (sessionStorage.getItem(SELECTED) || '').toLowerCase());

  /** Lets the user pick (or create) an account: a modal dialog, resolved with the account. */
  function choose() {
    return new Promise((resolve, reject) => {
      const dialog = document.createElement('dialog');
      dialog.setAttribute('aria-labelledby', 'demo-wallet-title');
      dialog.innerHTML = '<h2 id="demo-wallet-title">Demo wallet: choose an account</h2>'
        + '<p>Keys stay in this browser. Never use the demo wallet for real records.</p><ul></ul>'
        + '<label for="demo-wallet-label">New account name</label><input id="demo-wallet-label" value="">'
        + '<button type="button" data-new>Create a new account</button> <button type="button" class="link" data-cancel>Cancel</button>';
      const list = dialog.querySelector('ul');
      for (const account of accounts()) {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link';
        button.textContent = `${account.label}: ${account.address}`;
        button.addEventListener('click', () => done(account));
        li.append(button);
        list.append(li);
      }
      const done = (account) => {
        dialog.close();
        dialog.remove();
        sessionStorage.setItem(SELECTED, account.address);
        resolve(account);
      };
      dialog.querySelector('[data-new]').addEventListener('click', () => {
        const label = dialog.querySelector('#demo-wallet-label').value.trim() || `Account ${accounts().length}`;
        done(create(label));
      });
      dialog.querySelector('[data-cancel]').addEventListener('click', () => {
        dialog.close();
        dialog.remove();
        reject(Object.assign(new Error('User rejected the request.'), { code: 4001 }));
      });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  function ask(text) {
    return window.confirm(`Demo wallet\n\n${text}\n\nSign?`)
      ? Promise.resolve()
      : Promise.reject(Object.assign(new Error('User rejected the request.'), { code: 4001 }));
  }

  const listeners = {};
  const provider = {
    isMedLedgerDemo: true,
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
    async request({ method, params = [] }) {
      const chain = '0x' + Number(document.body.dataset.chainId).toString(16);
      const me = selected();
      switch (method) {
        case 'eth_chainId': return chain;
        case 'eth_accounts': return me ? [me.address] : [];
        // Like a wallet's connect prompt: the user picks the account each time a site asks.
        case 'eth_requestAccounts': return [(await choose()).address];
        case 'wallet_switchEthereumChain': return null;
        case 'personal_sign': {
          const [data, from] = params;
          if (!me || from.toLowerCase() !== me.address.toLowerCase()) throw Object.assign(new Error('Unknown account'), { code: 4100 });
          const message = /^0x[0-9a-fA-F]*$/.test(data) ? fromHex(data) : utf8(data);
          await ask(new TextDecoder().decode(message));
          return sign(personalDigest(message), BigInt(me.key));
        }
        case 'eth_signTypedData_v4': {
          const [from, json] = params;
          if (!me || from.toLowerCase() !== me.address.toLowerCase()) throw Object.assign(new Error('Unknown account'), { code: 4100 });
          const typed = typeof json === 'string' ? JSON.parse(json) : json;
          await ask(`${typed.primaryType} for ${typed.domain.name}, to ${typed.message.to}`);
          return sign(typedDataDigest(typed), BigInt(me.key));
        }
        default:
          throw Object.assign(new Error(`The demo wallet does not support ${method}`), { code: 4200 });
      }
    },
  };

  const info = Object.freeze({
    uuid: '6f1e3c2a-5d4b-4e8f-9a7c-3b2d1e0f9a8b',
    name: 'Demo wallet (keys stay in this browser)',
    icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"%3E%3Crect width="24" height="24" rx="4" fill="%230b5cad"/%3E%3Ctext x="12" y="17" font-size="14" text-anchor="middle" fill="white"%3ED%3C/text%3E%3C/svg%3E',
    rdns: 'org.medledger.demo-wallet',
  });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
  window.MedLedgerDemoWallet = { typedDataDigest, personalDigest, addressOf, sign };
})();
