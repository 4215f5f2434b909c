// The demo mini-app: a small shop written only against `mos` (MOS's SDK in the MOS app,
// mos-sandbox.js in a desktop browser) and mospay's /mp API, as a real mini-app would be.
// Log in, list the products, order one (mospay prices it from its product list: the phone never
// says what anything costs), hand the order to mos.pay, then ask mospay until it is final. Each
// order in the list says what happened to it (the calls this page made, mos.pay's result, and
// whether MOS's notification or a query confirmed the outcome), offers "Pay now" while it is
// PENDING, and links to it in mospay's finance pages.

// A real mini-app has these two in its own configuration; the sandbox writes them into the page.
const API = document.querySelector('meta[name="mospay-api"]').content;
const APP_KEY = document.querySelector('meta[name="mos-app-key"]').content;

// ITEMS are the shop's products, from GET /mp/products: each shown in the first currency it has
// a price in.
let ITEMS = [];
// The statuses a receipt can show as the outcome; PENDING and CREATED may still change.
const FINAL = ['PAID', 'FAILED', 'CLOSED', 'REFUNDED'];
const NOTES = {
  PAID: 'Paid. Thank you!',
  FAILED: 'The payment failed. Nothing was charged.',
  CLOSED: 'The order closed unpaid.',
  REFUNDED: 'The payment was refunded.',
};

let lang = 'en_US';
let token = '';

// JOURNAL_KEY is where this page keeps what happened to each order it handled (localStorage, so
// that it survives a reload); the last JOURNAL_MAX orders are kept.
const JOURNAL_KEY = 'mospay-demo.journal';
const JOURNAL_MAX = 20;

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// request calls mospay: JSON in and out, the user's language; an error answer throws with its
// HTTP status and mospay's message.
async function request(method, path, { body, headers = {} } = {}) {
  let res;
  try {
    res = await fetch(API + path, {
      method,
      headers: { Lang: lang, ...(body && { 'Content-Type': 'application/json' }), ...headers },
      body: body && JSON.stringify(body),
    });
  } catch (err) {
    throw unreachable(err);
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw Object.assign(new Error(data.error?.message ?? `HTTP ${res.status}`), { status: res.status });
  }
  return data;
}

// unreachable explains a fetch that failed with no answer. The browser says only "Failed to
// fetch" (a TypeError) both when mospay is down and when its CORS refuses this page's origin;
// the second is what a developer meets first (mospay allows its sandbox's own origin and
// MOSPAY_CORS_ORIGINS only), so say which origin, and what to do.
function unreachable(err) {
  if (!(err instanceof TypeError) || new URL(API).origin === location.origin) return err;
  return new Error(`mospay's API (${API}) did not answer this page's origin, ${location.origin}: ` +
    `either mospay is not running there, or it does not allow this origin. Open the demo at an origin mospay ` +
    `allows (it prints them at start), or add ${location.origin} to MOSPAY_CORS_ORIGINS and restart mospay; ` +
    'its log names every origin it refuses.');
}

// login exchanges mos.login's one-time code for mospay's token.
async function login() {
  const res = await mos.login(APP_KEY);
  ({ token } = await request('POST', '/mp/login/miniAppLogin', { body: { code: res.data.code } }));
}

// api is request as the logged-in user; on a 401 (token expired or revoked) it logs in again,
// once, and retries.
async function api(method, path, options = {}) {
  const send = () => request(method, path, { ...options, headers: { ...options.headers, Authorization: `Bearer ${token}` } });
  try {
    return await send();
  } catch (err) {
    if (err.status !== 401) throw err;
    await login();
    return send();
  }
}

// journal reads every order's steps, {outTradeNo: ["POST /mp/orders: PENDING", ...]}; a browser
// that refuses storage (a private window, say) keeps them until the page reloads.
let unstored = {};
function journal() {
  try {
    return JSON.parse(localStorage.getItem(JOURNAL_KEY) ?? '{}') ?? {};
  } catch {
    return unstored;
  }
}

// record adds one step to an order's story in the journal.
function record(outTradeNo, step) {
  const all = journal();
  const steps = [...(all[outTradeNo] ?? []), step];
  delete all[outTradeNo];
  all[outTradeNo] = steps; // the newest last: the oldest go first
  for (const old of Object.keys(all).slice(0, Math.max(0, Object.keys(all).length - JOURNAL_MAX))) delete all[old];
  unstored = all;
  try {
    localStorage.setItem(JOURNAL_KEY, JSON.stringify(all));
  } catch {
    // Storage refused: kept in memory only.
  }
}

// createOrder creates the order and its prepay. One Idempotency-Key per purchase: when MOS did
// not answer the prepay (503), retrying with the same key resumes the same order.
async function createOrder(item) {
  const key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  for (let attempt = 1; ; attempt++) {
    try {
      return await api('POST', '/mp/orders', {
        body: { items: [{ productId: item.id, quantity: 1 }], currency: item.currency, desc: item.name },
        headers: { 'Idempotency-Key': key },
      });
    } catch (err) {
      if (err.status !== 503 || attempt === 3) throw err;
      await sleep(1000 * attempt);
    }
  }
}

// untilFinal waits until the order is final or about 15 s have passed. Each round first reads
// mospay's record (GET): final there means MOS's notification already told mospay. Otherwise
// it asks mospay to query MOS (POST .../query), whose answer may confirm the outcome.
async function untilFinal(outTradeNo) {
  const path = `/mp/orders/${encodeURIComponent(outTradeNo)}`;
  const said = '/mp/orders/{outTradeNo}'; // the journal's spelling: the number is the entry's own
  let order;
  let queries = 0;
  for (let attempt = 0; attempt < 10; attempt++) {
    order = await api('GET', path);
    if (FINAL.includes(order.status)) {
      record(outTradeNo, `GET ${said}: ${order.status}, confirmed by MOS's notification (mospay knew before anyone asked MOS)`);
      return order;
    }
    order = await api('POST', `${path}/query`);
    queries++;
    if (FINAL.includes(order.status)) {
      record(outTradeNo, `POST ${said}/query: ${order.status}, confirmed by a query (mospay asked MOS${queries > 1 ? `, ${queries} times` : ''})`);
      return order;
    }
    await sleep(1500);
  }
  record(outTradeNo, `POST ${said}/query: still ${order.status} after ${queries} queries; not confirmed yet`);
  return order;
}

// pay hands the order to mos.pay and shows the outcome on the receipt. mos.pay's "SUCCESS" only
// says the user finished paying: mospay asks MOS for the truth.
async function pay(order, name) {
  progress('Waiting for the payment…');
  let result;
  try {
    ({ result } = await mos.pay({
      amount: order.totalAmount, currency: order.currency, appKey: order.appKey, prepayId: order.prepayId,
    }));
  } catch (err) {
    record(order.outTradeNo, `mos.pay: refused (${err.message})`);
    throw err;
  }
  record(order.outTradeNo, `mos.pay: ${result}`);
  if (result === 'SUCCESS' || result === 'FAIL') {
    progress('Confirming with mospay…');
    showReceipt(await untilFinal(order.outTradeNo), name);
  } else {
    showReceipt(order, name, 'You cancelled the payment; the order stays open until it expires.');
  }
}

// run does one purchase step by step with the buttons off, and shows the orders afterwards.
async function run(steps) {
  setBusy(true);
  $('error').hidden = true;
  $('receipt').hidden = true;
  try {
    await steps();
  } catch (err) {
    showError(err);
  } finally {
    progress('');
    setBusy(false);
  }
  await loadHistory();
}

function buy(item) {
  return run(async () => {
    progress('Creating your order…');
    const order = await createOrder(item);
    record(order.outTradeNo, `POST /mp/orders: ${order.status}, prepayId ${order.prepayId}`);
    await pay(order, item.name);
  });
}

// payNow pays an order still PENDING again: the same prepayId opens the sheet anew.
function payNow(order) {
  return run(async () => {
    record(order.outTradeNo, 'Pay now');
    await pay(order, order.desc);
  });
}

function showReceipt(order, name, note) {
  $('receipt-status').textContent = order.status;
  $('receipt-status').className = `status status-${order.status}`;
  $('receipt-note').textContent = note ?? NOTES[order.status] ?? 'MOS has not confirmed the payment yet; see your orders in a moment.';
  $('receipt-order').textContent = order.outTradeNo;
  $('receipt-item').textContent = name;
  $('receipt-amount').textContent = `${order.totalAmount} ${order.currency}`;
  $('receipt').hidden = false;
  $('receipt-title').focus(); // keyboard and screen-reader users land on the outcome
}

async function loadHistory() {
  try {
    const { orders } = await api('GET', '/mp/orders?limit=10');
    const steps = journal();
    $('history').replaceChildren(...orders.map((o) => {
      const li = document.createElement('li');
      li.dataset.order = o.outTradeNo;
      const status = document.createElement('strong');
      status.className = `status status-${o.status}`;
      status.textContent = o.status;
      const number = document.createElement('small');
      number.textContent = o.outTradeNo;
      li.append(`${o.desc} · ${o.totalAmount} ${o.currency} `, status, number, orderActions(o), orderStory(steps[o.outTradeNo]));
      return li;
    }));
    $('history-empty').hidden = orders.length > 0;
  } catch (err) {
    showError(err);
  }
}

// orderActions are an order's links: "Pay now" while it is PENDING, and the order in mospay's
// finance pages (finance signs in there with an admin token).
function orderActions(o) {
  const actions = document.createElement('div');
  actions.className = 'actions';
  if (o.status === 'PENDING' && o.prepayId) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'pay-now';
    button.textContent = 'Pay now';
    button.setAttribute('aria-label', `Pay now: ${o.desc}, ${o.outTradeNo}`);
    button.addEventListener('click', () => payNow(o));
    actions.append(button);
  }
  const finance = document.createElement('a');
  finance.className = 'finance';
  finance.href = `${API}/finance/orders/${encodeURIComponent(o.outTradeNo)}`;
  finance.textContent = 'In the finance pages';
  finance.setAttribute('aria-label', `${o.outTradeNo} in the finance pages`);
  actions.append(finance);
  return actions;
}

// orderStory is what happened to an order, as this page saw it (the journal); an order this
// browser did not handle says so.
function orderStory(steps) {
  const details = document.createElement('details');
  details.className = 'story';
  const summary = document.createElement('summary');
  summary.textContent = 'What happened';
  const list = document.createElement('ol');
  for (const step of steps ?? ['Made elsewhere: this browser saw none of its calls.']) {
    const li = document.createElement('li');
    li.textContent = step;
    list.append(li);
  }
  details.append(summary, list);
  return details;
}

// loadItems reads the product list: one item per product, at its first price.
async function loadItems() {
  const { products } = await api('GET', '/mp/products');
  ITEMS = products.map((p) => {
    const [currency, price] = Object.entries(p.prices)[0];
    return { id: p.id, name: p.name, price, currency };
  });
}

function renderItems() {
  $('items').replaceChildren(...ITEMS.map((item) => {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = `${item.name} · ${item.price} ${item.currency}`;
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.item = item.id;
    button.textContent = 'Buy';
    button.setAttribute('aria-label', `Buy ${item.name}`);
    button.disabled = true;
    button.addEventListener('click', () => buy(item));
    li.append(name, button);
    return li;
  }));
}

function setBusy(busy) {
  for (const b of document.querySelectorAll('#items button, #history button')) b.disabled = busy;
}

function progress(text) {
  $('progress').textContent = text;
}

function showError(err) {
  $('error').textContent = `Something went wrong: ${err.message}`;
  $('error').hidden = false;
}

async function start() {
  renderItems();
  try {
    if (!API || !APP_KEY) throw new Error('the sandbox does not know mospay\'s API URL or the appKey');
    ({ lang } = await mos.getLanguage());
    await login();
    await loadItems();
    renderItems();
    const user = await api('GET', '/mp/user');
    $('who').textContent = `Signed in as ${user.openid} (${user.languageType})`;
    setBusy(false);
    await loadHistory();
  } catch (err) {
    $('who').textContent = 'Not signed in.';
    showError(err);
  }
}

start();
