// vcgate console. Reads and writes only through the JSON API with a bearer
// token kept in this tab's sessionStorage. Every value reaches the page as a
// text node or an attribute set through the DOM: no HTML strings (the CSP
// requires Trusted Types, so an HTML sink would throw).
'use strict';

const TOKEN_KEY = 'vcgate.token';
const POLL_MS = 5000;
const PAGE = 50;

// ---- DOM helpers -----------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// An internal link: always a fragment of this page.
function link(hash, ...children) {
  return h('a', { href: '#' + hash }, ...children);
}

function chip(text, cls) {
  return h('span', { class: 'chip ' + (cls || String(text || '')) }, text === null || text === undefined ? '-' : text);
}

function num(v) { return v === null || v === undefined ? '-' : Number(v).toLocaleString('en'); }

function when(v) {
  if (!v) return '-';
  const d = new Date(v);
  if (isNaN(d)) return String(v);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function ago(v) {
  if (!v) return 'never';
  const s = Math.round((Date.now() - new Date(v).getTime()) / 1000);
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

function duration(secs) {
  const d = Math.floor(secs / 86400), hr = Math.floor(secs % 86400 / 3600), m = Math.floor(secs % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || hr ? hr + 'h ' : '') + m + 'm';
}

function json(v) { return h('pre', {}, JSON.stringify(v, null, 2)); }

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing here.');
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { class: t.endsWith('#') ? 'num' : null }, t.replace(/#$/, ''))))),
    h('tbody', {}, rows));
}

function card(label, value, cls, stat) {
  return h('div', { class: 'card ' + (cls || '') },
    h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-stat': stat }, value));
}

function notice(text, ok) { return h('p', { class: 'notice ' + (ok ? 'ok' : 'bad'), role: 'status' }, text); }

// A notice that survives the re-render after a change (shown once).
let flash = null;
function takeFlash() { const f = flash; flash = null; return f ? notice(f, true) : null; }

// ---- API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error, detail) {
    super(status + ' ' + error + (detail ? ': ' + detail : ''));
    this.status = status;
  }
}

async function api(path, options) {
  const opts = options || {};
  const headers = { Accept: 'application/json', Authorization: 'Bearer ' + token() };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method: opts.method || 'GET', headers, cache: 'no-store', credentials: 'omit',
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!r.ok) {
    const e = new ApiError(r.status, (body && body.error) || r.statusText, body && body.detail);
    // A read refused: the token is gone or wrong; ask again.
    if (r.status === 401 && (opts.method || 'GET') === 'GET') logout('Your token was refused: ' + e.message);
    throw e;
  }
  return body;
}

// /healthz and /readyz need no token and answer with their status code.
async function probe(path) {
  try { const r = await fetch(path, { cache: 'no-store', credentials: 'omit' }); return r.ok; } catch (_) { return false; }
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin(why || '');
}

// ---- shell and routing -----------------------------------------------------

let generation = 0;   // bumped on every navigation; stale renders and polls stop
let timer = null;

function showLogin(message) {
  generation++;
  clearInterval(timer);
  document.getElementById('main').replaceChildren();
  document.getElementById('nav').hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('login').hidden = false;
  document.getElementById('login-error').textContent = message || '';
  document.getElementById('token').focus();
}

async function login(event) {
  event.preventDefault();
  const input = document.getElementById('token');
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  try {
    await api('/api/v1/status');
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('Sign-in failed: ' + e.message);
    return;
  }
  route();
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || '') };
}

const PAGES = {
  '': overview, events: events, runs: runs, silences: silences, guard: guard,
};

async function route() {
  if (!token()) { showLogin(''); return; }
  const gen = ++generation;
  clearInterval(timer);
  document.getElementById('login').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('logout').hidden = false;
  document.getElementById('banner').hidden = true;
  const hash = location.hash;
  const { parts, params } = parseHash();
  const page = PAGES[parts[0] || ''] ? (parts[0] || '') : '';
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === (page || 'overview'));
  }
  const main = document.getElementById('main');
  const draw = async () => {
    try {
      const content = await PAGES[page](parts.slice(1), params);
      if (gen !== generation) return;
      main.replaceChildren(content);
      main.dataset.page = (page || 'overview') + (parts[1] ? '-detail' : '');
      main.dataset.hash = hash;
      main.dataset.ready = String(Date.now());
      document.getElementById('banner').hidden = true;
    } catch (e) {
      if (gen !== generation || !token()) return;
      const banner = document.getElementById('banner');
      banner.textContent = 'Cannot load this page: ' + e.message;
      banner.hidden = false;
    }
  };
  await draw();
  if (gen === generation && PAGES[page].live && PAGES[page].live(parts.slice(1), params)) {
    // Live pages refresh, except in a hidden tab or while someone types a filter.
    timer = setInterval(() => {
      const typing = main.contains(document.activeElement) && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
      if (!document.hidden && !typing) draw();
    }, POLL_MS);
  }
}

function go(hash) { location.hash = hash; }

// ---- Overview --------------------------------------------------------------

const samples = [];   // {t, sources: {name: received}} samples, for rates

function remember(status) {
  samples.push({ t: Date.now(), sources: Object.fromEntries(Object.entries(status.sources || {}).map(([k, v]) => [k, v.received])) });
  while (samples.length > 61) samples.shift();
}

function sparkline(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 120 24');
  const deltas = [];
  for (let i = 1; i < samples.length; i++) {
    deltas.push(Math.max(0, (samples[i].sources[name] || 0) - (samples[i - 1].sources[name] || 0)));
  }
  const max = Math.max(1, ...deltas);
  deltas.slice(-60).forEach((d, i) => {
    const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    const ht = Math.max(d ? 2 : 0, Math.round(22 * d / max));
    r.setAttribute('x', String(i * 2)); r.setAttribute('width', '1.6');
    r.setAttribute('y', String(24 - ht)); r.setAttribute('height', String(ht));
    svg.append(r);
  });
  return svg;
}

function ratePerMin(name) {
  if (samples.length < 2) return '-';
  const a = samples[0], b = samples[samples.length - 1];
  const mins = (b.t - a.t) / 60000;
  return mins > 0 ? (((b.sources[name] || 0) - (a.sources[name] || 0)) / mins).toFixed(1) + '/min' : '-';
}

async function overview() {
  const [status, ready, healthy, guardView, dead] = await Promise.all([
    api('/api/v1/status'), probe('/readyz'), probe('/healthz'),
    api('/api/v1/guard').catch(() => null), api('/api/v1/runs?status=dead&limit=10'),
  ]);
  remember(status);
  const s = status.store || {};
  const runs = status.runs || {};
  const pipeline = status.pipeline || {};
  const failingForwards = Object.entries(pipeline).filter(([k, v]) => k.startsWith('forward.') && k.endsWith('.failed') && v > 0);
  const sources = Object.entries(status.sources || {}).map(([name, c]) => {
    const rejected = Object.entries(c.rejected || {});
    const total = rejected.reduce((n, [, v]) => n + v, 0);
    return h('tr', {},
      h('td', {}, link('/events?source=' + encodeURIComponent(name), name)),
      h('td', { class: 'num', 'data-stat': 'source.' + name + '.received' }, num(c.received)),
      h('td', { class: 'num', 'data-stat': 'source.' + name + '.accepted' }, num(c.accepted)),
      h('td', { class: 'num', 'data-stat': 'source.' + name + '.duplicate' }, num(c.duplicate)),
      h('td', { class: 'num', 'data-stat': 'source.' + name + '.rejected' }, num(total)),
      h('td', {}, rejected.map(([k, v]) => chip(k + ' ' + v, 'warn'))),
      h('td', { class: 'num' }, ratePerMin(name)),
      h('td', {}, sparkline(name)),
      h('td', {}, ago(c.last_at)));
  });
  const vcenters = Object.entries(status.vcenters || {}).map(([name, c]) => {
    const stream = (status.event_streams || {})[name];
    const g = guardView && guardView.vcenters.find((v) => v.name === name);
    return h('tr', {},
      h('td', {}, name),
      h('td', { class: 'num' }, num(c.accepted)),
      h('td', {}, ago(c.last_event_at)),
      h('td', {}, ago(c.last_diagnostic_at)),
      h('td', {}, stream ? [chip(stream.connected ? 'connected' : 'disconnected', stream.connected ? 'ok' : 'bad'),
        ' lag ', stream.lag_seconds === null ? '-' : stream.lag_seconds.toFixed(1) + ' s',
        stream.last_error ? h('div', { class: 'error' }, stream.last_error) : null] : h('span', { class: 'muted' }, 'off')),
      h('td', {}, g ? [chip(g.status, g.status === 'ok' ? 'ok' : 'warn'), g.error ? h('div', { class: 'error' }, g.error) : null]
        : h('span', { class: 'muted' }, 'off')));
  });
  const snmp = status.snmp;
  return h('div', {},
    h('h1', {}, 'Overview'),
    h('div', { class: 'grid' },
      card('Health / readiness', [chip(healthy ? 'healthy' : 'unhealthy', healthy ? 'ok' : 'bad'), ' ', chip(ready ? 'ready' : 'not ready', ready ? 'ok' : 'bad')], ready ? '' : 'bad'),
      card('Version · uptime', status.version + ' · ' + duration(status.uptime_seconds), '', 'version'),
      card('Stored events', num(s.events), '', 'store.events'),
      card('Pipeline backlog', num(s.pending_pipeline), s.pending_pipeline > 1000 ? 'warn' : '', 'store.pending_pipeline'),
      card('Pending deliveries', num(s.pending_deliveries), failingForwards.length ? 'warn' : '', 'store.pending_deliveries'),
      card('Store', s.writable ? 'writable' : 'NOT WRITABLE', s.writable ? '' : 'bad', 'store.writable'),
      card('Dead runs', num(runs.dead || 0), runs.dead ? 'bad' : '', 'runs.dead'),
      card('Active silences', num(status.silences.active), '', 'silences.active'),
      card('Hosts in maintenance', num(status.silences.hosts_in_maintenance.length), '', 'silences.maintenance'),
      card('SNMP receive buffer', snmp ? num(snmp.recv_buffer_bytes) + ' B' : 'off', '', 'snmp.recv_buffer_bytes')),
    h('h2', {}, 'Sources'),
    table(['Source', 'Received#', 'Accepted#', 'Duplicate#', 'Rejected#', 'By reason', 'Rate#', 'Last 5 min', 'Last'], sources),
    h('h2', {}, 'vCenters'),
    table(['vCenter', 'Accepted#', 'Last event', 'Last heard (vpxdDiagnostic)', 'Event stream', 'Guard'], vcenters, 'No vCenter has been heard from.'),
    h('div', { class: 'cols' },
      h('div', {}, h('h2', {}, 'Runs by status'),
        table(['Status', 'Runs#'], Object.entries(runs).map(([k, v]) =>
          h('tr', { class: k === 'dead' ? 'bad' : null }, h('td', {}, link('/runs?status=' + k, chip(k))), h('td', { class: 'num', 'data-stat': 'runs.' + k }, num(v)))), 'No runs yet.'),
        dead.runs.length ? [h('h2', {}, 'Dead runs'), runTable(dead.runs)] : null),
      h('div', {}, h('h2', {}, 'Pipeline'),
        table(['Counter', 'Value#'], Object.entries(pipeline).map(([k, v]) =>
          h('tr', { class: k.endsWith('.failed') && v > 0 ? 'bad' : null }, h('td', { class: 'mono' }, k), h('td', { class: 'num' }, num(v)))))),
    ));
}
overview.live = () => true;

// ---- Events ----------------------------------------------------------------

const EVENT_FILTERS = [
  ['source', 'source', ['', 'alarm-hook', 'snmp', 'vcenter-events', 'api', 'guard']],
  ['type', 'type (glob)'], ['vcenter', 'vCenter'], ['entity', 'entity'], ['alarm', 'alarm'],
  ['status', 'status'], ['route', 'route', ['', 'automation', 'monitoring', 'both', 'drop']],
  ['held', 'held', ['', 'true', 'false']], ['duplicate', 'duplicate', ['', 'true', 'false']],
];

function filterForm(fields, params, base) {
  const form = h('form', { class: 'filters', method: 'post' });
  for (const [name, label, options] of fields) {
    const value = params.get(name) || '';
    const input = options
      ? h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o || 'any')))
      : h('input', { name, value, placeholder: '*' });
    form.append(h('label', {}, label, input));
  }
  form.append(h('button', { type: 'submit', class: 'primary' }, 'Filter'), link(base, 'Clear'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    go(base + (q.toString() ? '?' + q : ''));
  });
  return form;
}

function pager(base, params, next) {
  const older = new URLSearchParams(params);
  if (next !== null && next !== undefined) older.set('before', next);
  const newest = new URLSearchParams(params);
  newest.delete('before');
  return h('div', { class: 'pager' },
    params.get('before') ? link(base + (newest.toString() ? '?' + newest : ''), '« Newest') : h('span', { class: 'muted' }, 'Newest first · live'),
    next !== null && next !== undefined ? link(base + '?' + older, 'Older »') : h('span', { class: 'muted' }, 'End of list'));
}

function statusChip(alarm) {
  if (!alarm || !alarm.new_status) return null;
  const st = alarm.new_status;
  return chip(st.status || st.raw, st.status || 'raw');
}

async function events(parts, params) {
  if (parts[0]) return eventDetail(parts[0]);
  const q = new URLSearchParams(params);
  q.set('limit', String(PAGE));
  const list = await api('/api/v1/events?' + q);
  const rows = list.events.map((e) => h('tr', { class: e.disposition && e.disposition.held_by ? 'held' : null, 'data-event': e.id },
    h('td', { class: 'nowrap' }, link('/events/' + encodeURIComponent(e.id), when(e.received_at))),
    h('td', {}, e.source), h('td', {}, e.vcenter), h('td', { class: 'mono' }, e.type),
    h('td', { class: 'entity' }, e.entity ? e.entity.name || e.entity.moref : '-'),
    h('td', {}, e.alarm ? [e.alarm.name || e.alarm.moref || '', ' ', statusChip(e.alarm)] : '-'),
    h('td', {}, e.disposition ? (e.disposition.duplicate_of ? chip('duplicate', 'warn') : e.disposition.route) : chip(e.stage, 'pending')),
    h('td', {}, e.disposition && e.disposition.held_by ? chip(e.disposition.held_by, 'warn') : ''),
    h('td', { class: 'num' }, e.duplicates ? '+' + e.duplicates : '')));
  return h('div', {},
    h('h1', {}, 'Events'),
    filterForm(EVENT_FILTERS, params, '/events'),
    table(['Received', 'Source', 'vCenter', 'Type', 'Entity', 'Alarm', 'Route', 'Held', 'Dups#'], rows, 'No events match.'),
    pager('/events', params, list.next_before));
}
events.live = (parts, params) => !parts[0] && !params.get('before');

function deliveryItem(d) {
  return h('li', { class: d.state === 'failed' ? 'bad' : d.state === 'pending' ? 'warn' : null, 'data-forward': d.target },
    h('span', { class: 'when' }, 'forward'), 'to ', h('b', {}, d.target), ' ', chip(d.state),
    ' after ', num(d.attempts), d.attempts === 1 ? ' attempt' : ' attempts',
    d.last_error ? h('div', { class: 'error' }, d.last_error) : null);
}

function runItem(r) {
  return h('li', { class: r.status === 'dead' || r.status === 'failed' ? 'bad' : null, 'data-run': r.id },
    h('span', { class: 'when' }, when(r.started || r.queued)),
    'run of ', h('b', {}, r.function), ' (', r.subscription, ') ', chip(r.status), ' attempt ', num(r.attempt), ' · ',
    link('/runs/' + encodeURIComponent(r.id), 'run detail'),
    r.reason ? h('div', { class: 'error' }, r.reason) : null);
}

async function eventDetail(id) {
  const [e, runList] = await Promise.all([
    api('/api/v1/events/' + encodeURIComponent(id)),
    api('/api/v1/runs?limit=100&event=' + encodeURIComponent(id)),
  ]);
  const d = e.disposition || {};
  const en = e.enrichment;
  const steps = [
    h('li', {}, h('span', { class: 'when' }, when(e.received_at)), 'received from ', h('b', {}, e.source), ' and stored (accepted)'),
    e.time ? h('li', {}, h('span', { class: 'when' }, when(e.time)), 'happened in vCenter ', e.vcenter) : null,
    en ? h('li', { class: en.status === 'failed' ? 'bad' : null }, h('span', { class: 'when' }, 'enrichment'), chip(en.status, en.status === 'enriched' ? 'ok' : 'warn'), en.reason ? ' ' + en.reason : '') : null,
    d.duplicate_of ? h('li', { class: 'warn' }, h('span', { class: 'when' }, 'dedup'), 'duplicate of ', link('/events/' + encodeURIComponent(d.duplicate_of), d.duplicate_of), ': not routed again') : null,
    e.duplicates ? h('li', {}, h('span', { class: 'when' }, 'dedup'), num(e.duplicates), ' later duplicates merged, last seen ', when(e.last_seen)) : null,
    e.disposition ? (d.route ? h('li', {}, h('span', { class: 'when' }, 'route'), 'routed to ', h('b', {}, d.route), ' by rule ', h('code', {}, d.rule || '-'),
      d.subscriptions && d.subscriptions.length ? ' · subscriptions: ' + d.subscriptions.join(', ') : '') : null)
      : h('li', { class: 'warn' }, h('span', { class: 'when' }, 'pipeline'), 'not processed yet (stage ', e.stage, ')'),
    d.held_by ? h('li', { class: 'warn' }, h('span', { class: 'when' }, 'hold'), 'held back from monitoring by ', h('b', {}, d.held_by)) : null,
    (e.deliveries || []).map(deliveryItem),
    runList.runs.map(runItem),
  ];
  return h('div', {},
    h('h1', {}, 'Event ', h('span', { class: 'mono' }, e.id)),
    h('div', { class: 'cols' },
      h('div', {}, h('h2', {}, 'Timeline'), h('ol', { class: 'timeline' }, steps)),
      h('div', {}, h('h2', {}, 'Event'), kv([
        ['type', h('code', {}, e.type)], ['source', e.source], ['vCenter', e.vcenter],
        ['entity', e.entity ? h('span', { class: 'entity' }, [e.entity.type, e.entity.moref, e.entity.name].filter(Boolean).join(' · ')) : '-'],
        ['alarm', e.alarm ? [e.alarm.name || '', ' ', e.alarm.old_status ? chip(e.alarm.old_status.status || e.alarm.old_status.raw) : '', ' → ', statusChip(e.alarm)] : '-'],
        ['message', e.message || '-'], ['user', e.user || '-'], ['category', e.category || '-'],
        ['fingerprint', h('code', {}, e.fingerprint)], ['stage', e.stage], ['sequence', num(e.seq)],
      ]))),
    h('h2', {}, 'Metadata'), json(e.metadata || {}),
    h('h2', {}, 'Raw input'), json(e.raw));
}

// ---- Runs ------------------------------------------------------------------

function runTable(list) {
  return table(['Queued', 'Function', 'Subscription', 'Status', 'Attempt#', 'Event', 'Reason'], list.map((r) =>
    h('tr', { class: r.status === 'dead' ? 'bad' : null, 'data-run': r.id },
      h('td', { class: 'nowrap' }, link('/runs/' + encodeURIComponent(r.id), when(r.queued))),
      h('td', {}, link('/runs?function=' + encodeURIComponent(r.function), r.function)), h('td', {}, r.subscription),
      h('td', {}, chip(r.status)), h('td', { class: 'num' }, num(r.attempt)),
      h('td', {}, link('/events/' + encodeURIComponent(r.event_id), 'event')),
      h('td', {}, r.reason || ''))), 'No runs match.');
}

async function runs(parts, params) {
  if (parts[0]) return runDetail(parts[0]);
  const q = new URLSearchParams(params);
  q.set('limit', String(PAGE));
  const [list, fns] = await Promise.all([api('/api/v1/runs?' + q), api('/api/v1/functions')]);
  const last = list.runs[list.runs.length - 1];
  return h('div', {},
    h('h1', {}, 'Runs'),
    filterForm([['function', 'function', [''].concat(fns.functions.map((f) => f.name))],
      ['status', 'status', ['', 'queued', 'running', 'succeeded', 'failed', 'dead']]], params, '/runs'),
    runTable(list.runs),
    pager('/runs', params, list.runs.length === PAGE && last ? last.seq : null));
}
runs.live = (parts, params) => !parts[0] && !params.get('before');

async function runDetail(id) {
  const r = await api('/api/v1/runs/' + encodeURIComponent(id));
  const result = h('div', {});
  const retry = h('button', { type: 'button', class: 'primary', id: 'retry' }, 'Retry this run');
  retry.addEventListener('click', async () => {
    retry.disabled = true;
    try {
      const q = await api('/api/v1/runs/' + encodeURIComponent(id) + '/retry', { method: 'POST', body: {} });
      result.replaceChildren(notice('Queued again: ' + q.status, true));
    } catch (e) {
      result.replaceChildren(notice('Retry refused: ' + e.message));
      retry.disabled = false;
    }
  });
  const took = r.started && r.finished ? ((new Date(r.finished) - new Date(r.started)) / 1000).toFixed(3) + ' s' : '-';
  return h('div', {},
    h('h1', {}, 'Run ', h('span', { class: 'mono' }, r.id)),
    kv([['function', r.function], ['subscription', r.subscription], ['status', chip(r.status)],
      ['reason', r.reason || '-'], ['attempt', num(r.attempt)],
      ['event', link('/events/' + encodeURIComponent(r.event_id), r.event_id)],
      ['queued', when(r.queued)], ['started', when(r.started)], ['finished', when(r.finished)], ['took', took],
      r.next_attempt ? ['next attempt', when(r.next_attempt)] : null,
      ['secrets', (r.secrets || []).join(', ') || '-']]),
    r.status === 'dead' || r.status === 'failed' ? h('p', {}, retry, ' (admin token)') : null, result,
    h('div', { class: 'cols' },
      h('div', {}, h('h2', {}, 'stdout'), h('pre', { id: 'stdout' }, (r.logs.stdout || []).join('\n'))),
      h('div', {}, h('h2', {}, 'stderr'), h('pre', { id: 'stderr' }, (r.logs.stderr || []).join('\n')))),
    r.logs.truncated ? h('p', { class: 'muted' }, 'Logs truncated.') : null,
    h('h2', {}, 'Output'), json(r.output), h('h2', {}, 'Input'), json(r.input));
}

// ---- Silences --------------------------------------------------------------

// `name=value`, `name!=value`, `name=~regex`, `name!~regex`, one per line.
function parseMatchers(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/);
    if (!m) throw new Error('not a matcher: ' + line);
    return { name: m[1], value: m[3].replace(/^"(.*)"$/, '$1'), isRegex: m[2].endsWith('~'), isEqual: !m[2].startsWith('!') };
  });
}

function parseDuration(text) {
  const m = text.trim().match(/^(\d+(?:\.\d+)?)\s*(m|h|d)$/);
  if (!m) throw new Error('duration must look like 30m, 2h or 1d');
  return Number(m[1]) * { m: 60, h: 3600, d: 86400 }[m[2]] * 1000;
}

function matcherText(m) {
  return m.name + (m.isEqual ? '' : '!') + (m.isRegex ? '=~' : '=') + m.value;
}

async function silences() {
  const [list, status] = await Promise.all([api('/api/v1/silences'), api('/api/v1/status')]);
  const result = h('div', { id: 'silence-result' }, takeFlash());
  const rows = list.silences.map((s) => {
    const expire = h('button', { type: 'button', class: 'danger', 'data-expire': s.id }, 'Expire');
    expire.addEventListener('click', async () => {
      expire.disabled = true;
      try {
        await api('/api/v1/silences/' + encodeURIComponent(s.id), { method: 'DELETE' });
        flash = 'Silence ' + s.id + ' expired.';
        route();
      } catch (e) {
        result.replaceChildren(notice('Expire refused: ' + e.message));
        expire.disabled = false;
      }
    });
    return h('tr', { 'data-silence': s.id },
      h('td', {}, chip(s.status.state)), h('td', { class: 'mono' }, s.matchers.map(matcherText).join(', ')),
      h('td', {}, when(s.startsAt)), h('td', {}, when(s.endsAt)), h('td', {}, s.createdBy), h('td', {}, s.comment),
      h('td', {}, s.status.state === 'expired' ? '' : expire));
  });
  const form = h('form', { class: 'stack', id: 'silence-form', method: 'post' },
    h('label', {}, 'Matchers, one per line: name=glob, name!=glob, name=~regex, name!~regex (names: alertname or alarm, vcenter, entity, entity_type, severity, status, type, source)',
      h('textarea', { name: 'matchers', required: true, placeholder: 'entity=esx-01*' })),
    h('label', {}, 'Duration', h('input', { name: 'duration', value: '2h' })),
    h('label', {}, 'Created by', h('input', { name: 'createdBy', value: 'console' })),
    h('label', {}, 'Comment', h('input', { name: 'comment', required: true })),
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Create silence'), ' (admin token)'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try {
      const body = {
        matchers: parseMatchers(f.get('matchers')),
        endsAt: new Date(Date.now() + parseDuration(f.get('duration'))).toISOString(),
        createdBy: f.get('createdBy'), comment: f.get('comment'),
      };
      const created = await api('/api/v1/silences', { method: 'POST', body });
      flash = 'Silence ' + created.silenceID + ' created.';
      route();
    } catch (e) {
      result.replaceChildren(notice('Create refused: ' + e.message));
    }
  });
  const hosts = status.silences.hosts_in_maintenance.map((x) => h('tr', {}, h('td', {}, x.vcenter), h('td', {}, x.host),
    h('td', {}, link('/events?held=true&vcenter=' + encodeURIComponent(x.vcenter), 'held events'))));
  return h('div', {},
    h('h1', {}, 'Silences'),
    result,
    table(['State', 'Matchers', 'Starts', 'Ends', 'By', 'Comment', ''], rows, 'No silences.'),
    h('p', {}, link('/events?held=true', 'Events held back from monitoring')),
    h('h2', {}, 'Hosts in maintenance'),
    status.silences.maintenance_silencing
      ? table(['vCenter', 'Host', ''], hosts, 'No host is in maintenance.')
      : h('p', { class: 'muted' }, 'Maintenance silencing is off (no vCenter API configured, or [silence] maintenance = false).'),
    h('h2', {}, 'New silence'), form);
}

// ---- Guard -----------------------------------------------------------------

async function guard() {
  const g = await api('/api/v1/guard');
  const st = g.settings;
  const host = (x) => [h('td', {}, x.vcenter), h('td', {}, x.name), h('td', { class: 'mono' }, x.moref),
    h('td', {}, x.alarm_actions_enabled === null ? '?' : chip(x.alarm_actions_enabled ? 'enabled' : 'disabled', x.alarm_actions_enabled ? 'ok' : 'warn'))];
  return h('div', {},
    h('h1', {}, 'Guard ', st.dry_run ? chip('dry run', 'warn') : null, ' ', chip(st.enabled ? 'enabled' : 'disabled', st.enabled ? 'ok' : 'warn')),
    kv([['interval', st.interval_seconds + ' s'], ['disable on enter', String(st.disable_on_enter)], ['re-enable', st.reenable],
      ['excluded', (st.exclude || []).join(', ') || '-']]),
    h('h2', {}, 'vCenters'),
    table(['vCenter', 'Status', 'Last reconcile', 'Next', 'Hosts#', 'Failures#', 'Error'], g.vcenters.map((v) => h('tr', { class: v.error ? 'bad' : null },
      h('td', {}, v.name), h('td', {}, chip(v.status, v.status === 'ok' ? 'ok' : 'warn')), h('td', {}, when(v.last_reconcile)),
      h('td', {}, when(v.next_attempt)), h('td', { class: 'num' }, num(v.hosts)), h('td', { class: 'num' }, num(v.consecutive_failures)),
      h('td', {}, v.error || ''))), 'The guard watches no vCenter.'),
    h('h2', {}, 'Hosts in maintenance'),
    table(['vCenter', 'Host', 'Moref', 'Alarm actions'], g.in_maintenance.map((x) => h('tr', {}, host(x))), 'None.'),
    h('h2', {}, 'Guarded hosts (actions disabled by the guard)'),
    table(['vCenter', 'Host', 'Moref', 'Alarm actions', 'Reason'], g.guarded.map((x) => h('tr', {}, host(x), h('td', {}, x.reason || ''))), 'None.'),
    h('h2', {}, 'Recent actions'),
    table(['Time', 'vCenter', 'Host', 'Action', 'Outcome', 'Reason', 'Error'], g.actions.map((a) => h('tr', { class: a.error ? 'bad' : null },
      h('td', {}, a.event_id ? link('/events/' + encodeURIComponent(a.event_id), when(a.time)) : when(a.time)),
      h('td', {}, a.vcenter), h('td', {}, a.host), h('td', {}, a.action), h('td', {}, chip(a.outcome)), h('td', {}, a.reason),
      h('td', {}, a.error || ''))), 'No actions yet.'));
}
guard.live = () => true;

// ---- start -----------------------------------------------------------------

document.getElementById('login-form').addEventListener('submit', login);
document.getElementById('logout').addEventListener('click', () => logout('Signed out.'));
window.addEventListener('hashchange', route);
route();
