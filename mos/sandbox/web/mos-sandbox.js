// mos-sandbox.js: a stand-in for MOS's front-end SDK, so that a mini-app runs in a desktop
// browser against mospay's MOS sandbox, with no MOS app and no phone. Load it where the MOS app
// would provide `mos`, before the mini-app's own script:
//
//   <script src="http://127.0.0.1:8081/sandbox/mos.js"></script>
//
// It defines window.mos with login, pay and getLanguage, shaped as MOS documents them (see
// docs/frontend.md for what follows MOS's documentation and what is this sandbox's own choice),
// and adds a small bar to the top of the page to choose the sandbox user.
(() => {
  'use strict';

  if (!document.currentScript) {
    throw new Error('mos-sandbox.js: load it as a classic script (src=".../sandbox/mos.js"), not as a module');
  }
  // The sandbox's /sandbox/ URL, wherever the mini-app itself is served from.
  const base = new URL('.', document.currentScript.src);
  const USERS = ['user-1', 'user-2', 'user-3'];
  // MOS documents "SUCCESS"; FAIL and CANCEL are the sandbox's names for the other outcomes.
  const RESULT = { success: 'SUCCESS', fail: 'FAIL', cancel: 'CANCEL' };

  // remembered reads and writes a setting that survives reloads (where storage is allowed).
  const remembered = {
    get(key, fallback) {
      try {
        return localStorage.getItem(`mos-sandbox.${key}`) ?? fallback;
      } catch {
        return fallback;
      }
    },
    set(key, value) {
      try {
        localStorage.setItem(`mos-sandbox.${key}`, value);
      } catch {
        // Storage refused (a private window, say): the setting lasts until the page reloads.
      }
    },
  };
  const currentUser = () => {
    const user = remembered.get('user', USERS[0]);
    return USERS.includes(user) ? user : USERS[0];
  };

  // call sends one request to the sandbox's control API and answers its JSON.
  // A fetch that fails with no answer (a TypeError: "Failed to fetch") from another origin is
  // the sandbox down or refusing this page's origin: said in words, with what to do.
  async function call(method, path, body) {
    let res;
    try {
      res = await fetch(new URL(path, base), {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (!(err instanceof TypeError) || base.origin === location.origin) throw err;
      throw new Error(`MOS sandbox: ${base.origin} did not answer this page's origin, ${location.origin}: ` +
        `either the sandbox is not running there, or it does not allow this origin (add it to ` +
        'MOSPAY_CORS_ORIGINS and restart mospay)');
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error(`MOS sandbox: ${data.error?.message ?? `HTTP ${res.status}`}`);
    }
    return data;
  }

  let config;
  const sandboxConfig = () => (config ??= call('GET', 'config'));

  async function checkAppKey(fn, appKey) {
    const { appKey: want } = await sandboxConfig();
    if (appKey !== want) {
      throw new Error(`mos.${fn}: appKey ${JSON.stringify(appKey)} is not this sandbox's (${want})`);
    }
  }

  // el makes an element with attributes and children (text or elements); never HTML strings.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === true) node.setAttribute(name, '');
      else if (value !== false && value !== undefined) node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  // The bar: which sandbox user mos.login logs in. Changing it reloads the page, as opening the
  // mini-app as another MOS user would start it afresh.
  function addBar() {
    const select = el('select', { id: 'mos-sandbox-user' },
      ...USERS.map((u) => el('option', { value: u, selected: u === currentUser() }, u)));
    select.addEventListener('change', () => {
      remembered.set('user', select.value);
      location.reload();
    });
    document.body.prepend(el('div', { class: 'mos-sandbox-bar', role: 'region', 'aria-label': 'MOS sandbox' },
      el('span', { class: 'mos-sandbox-brand' }, 'MOS sandbox'),
      el('label', { for: 'mos-sandbox-user' }, 'User'), select));
  }

  let sheetOpen = false;

  // sheet shows the payment sheet for order and settles with mos.pay's result.
  function sheet(order) {
    return new Promise((resolve) => {
      const lose = el('input', { type: 'checkbox', id: 'mos-sandbox-lose',
        checked: remembered.get('loseNotification', '') === '1' });
      lose.addEventListener('change', () => remembered.set('loseNotification', lose.checked ? '1' : ''));
      const message = el('p', { class: 'mos-sandbox-message', role: 'status' });
      const pay = el('button', { type: 'button', value: 'pay', class: 'mos-sandbox-primary', autofocus: true }, 'Pay');
      const fail = el('button', { type: 'button', value: 'fail' }, 'Fail');
      const cancel = el('button', { type: 'button', value: 'cancel' }, 'Cancel');
      const dialog = el('dialog', { class: 'mos-sandbox-sheet', 'aria-labelledby': 'mos-sandbox-title',
        'aria-describedby': 'mos-sandbox-amount' },
        el('h2', { id: 'mos-sandbox-title' }, `Pay ${order.merchantName}`),
        el('p', { class: 'mos-sandbox-amount', id: 'mos-sandbox-amount' }, `${order.totalAmount} ${order.currency}`),
        el('p', { class: 'mos-sandbox-desc' }, order.desc || ''),
        el('p', { class: 'mos-sandbox-order' }, `Order ${order.outTradeNo}`),
        el('label', { class: 'mos-sandbox-lose' }, lose,
          ' Lose the notification to the merchant (only /query will know)'),
        message,
        el('div', { class: 'mos-sandbox-buttons' }, pay, fail, cancel));
      const returnFocus = document.activeElement;
      let busy = false;

      async function settle(action, result) {
        busy = true;
        for (const b of [pay, fail, cancel]) b.disabled = true;
        message.textContent = action === 'pay' ? 'Paying…' : 'Failing the payment…';
        try {
          await call('POST', `prepays/${encodeURIComponent(order.prepayId)}/${action}`,
            { loseNotification: lose.checked });
          dialog.close(result);
        } catch (err) {
          message.textContent = err.message;
          busy = false;
          for (const b of [pay, fail, cancel]) b.disabled = false;
          cancel.focus();
        }
      }
      pay.addEventListener('click', () => settle('pay', RESULT.success));
      fail.addEventListener('click', () => settle('fail', RESULT.fail));
      cancel.addEventListener('click', () => dialog.close(RESULT.cancel));
      // Escape cancels, except while the sandbox is being told the user's choice.
      dialog.addEventListener('cancel', (event) => {
        if (busy) event.preventDefault();
      });
      dialog.addEventListener('close', () => {
        dialog.remove();
        sheetOpen = false;
        if (returnFocus instanceof HTMLElement) returnFocus.focus();
        resolve({ result: Object.values(RESULT).includes(dialog.returnValue) ? dialog.returnValue : RESULT.cancel });
      });
      document.body.append(dialog);
      sheetOpen = true;
      dialog.showModal();
    });
  }

  const mos = {
    // login resolves as MOS's example reads it: the one-time code at res.data.code.
    async login(appKey) {
      await checkAppKey('login', appKey);
      const { code } = await call('POST', 'login-codes', { openid: currentUser() });
      return { data: { code } };
    },

    // pay shows the payment sheet for the order the prepayId belongs to and resolves {result}.
    // "SUCCESS" means the user finished paying; it is not proof of payment: ask your backend.
    async pay({ amount, currency, appKey, prepayId } = {}) {
      await checkAppKey('pay', appKey);
      if (sheetOpen) throw new Error('mos.pay: a payment sheet is already open');
      if (!prepayId) throw new Error('mos.pay: prepayId is missing');
      const order = await call('GET', `prepays/${encodeURIComponent(prepayId)}`);
      if (Number(amount) !== Number(order.totalAmount) || currency !== order.currency) {
        throw new Error(`mos.pay: ${amount} ${currency} is not the prepaid ${order.totalAmount} ${order.currency}`);
      }
      return sheet(order);
    },

    // getLanguage resolves {lang} in MOS's form (en_US): here, the browser's language.
    async getLanguage() {
      return { lang: (navigator.language || 'en-US').replace('-', '_') };
    },
  };
  Object.defineProperty(window, 'mos', { value: Object.freeze(mos), enumerable: true });

  document.head.append(el('link', { rel: 'stylesheet', href: new URL('mos.css', base).href }));
  if (document.body) addBar();
  else document.addEventListener('DOMContentLoaded', addBar, { once: true });
})();
