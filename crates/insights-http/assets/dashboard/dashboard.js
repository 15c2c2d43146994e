// The Insights dashboard. It reads only the public API, keeps its view in the address bar
// (so a view can be shared and reloaded) and the API key in sessionStorage, never in a URL.
'use strict';

const KEY_STORAGE = 'insights.apiKey';
const DEMAND_INTERVAL = '15m';
const TOP = 10;
const PALETTE = ['#1f5fa8', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0e7490', '#a16207',
  '#be185d', '#4d7c0f', '#1e3a8a', '#9a3412', '#065f46'];
const $ = (id) => document.getElementById(id);
// Every id the API gives is a UUID; the page's URL is anyone's to write.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path whose interpolated values are each one percent-encoded segment, never `../`. */
function path(strings, ...values) {
  return strings.reduce((text, part, index) => text + encodeURIComponent(String(values[index - 1])) + part);
}

let brands = [];
let chart = null;

/** A failed API call, with the problem+json body the service sent. */
class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(url) {
  const headers = { Accept: 'application/json' };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    throw new ApiError(0, { title: 'no answer', detail: String(error) });
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = { title: response.statusText, detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** An error in words, for people. */
function describe(error) {
  if (!(error instanceof ApiError)) return `The page failed: ${error.message}`;
  const detail = error.problem.detail || error.problem.title || '';
  switch (error.status) {
    case 0: return `The service could not be reached: ${detail}`;
    case 400: return `The service cannot answer this view (400 Bad Request): ${detail}`;
    case 401: return `This service needs a valid API key (401 Unauthorized): ${detail}. Enter a key under "API key" and press Show.`;
    case 403: return `This API key may not see that (403 Forbidden): ${detail}`;
    case 404: return `Not found, or not visible with this API key (404 Not Found): ${detail}`;
    case 503: return `The service is busy or a data store is unavailable (503 Service Unavailable): ${detail}. Try again in a few seconds.`;
    default: return `The service answered ${error.status}: ${detail}`;
  }
}

function showError(error) {
  const box = $('error');
  box.textContent = describe(error);
  box.hidden = false;
  $('status').textContent = '';
  document.body.dataset.state = 'error';
  if (error instanceof ApiError && error.status === 401) $('apikey').focus();
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

// ---- Time zones and windows ----

function zoneParts(ms, tz) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((part) => part.type === type).value);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour'), min: get('minute'), s: get('second') };
}

function offsetMs(ms, tz) {
  const p = zoneParts(ms, tz);
  return Date.UTC(p.y, p.m - 1, p.d, p.h, p.min, p.s) - Math.floor(ms / 1000) * 1000;
}

/** The instant of local midnight starting day (y, m, d) in tz. */
function localMidnight(y, m, d, tz) {
  const wall = Date.UTC(y, m - 1, d);
  let guess = wall;
  for (let i = 0; i < 3; i += 1) guess = wall - offsetMs(guess, tz);
  return guess;
}

function parseInstant(text) {
  // Date.parse keeps milliseconds; finer digits only shorten the string it must read.
  return Date.parse(String(text).replace(/(\.\d{3})\d+/, '$1'));
}

function rfc3339(ms) {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The local day in tz that holds the instant `last`. */
function dayHolding(last, tz) {
  const p = zoneParts(last, tz);
  const next = new Date(Date.UTC(p.y, p.m - 1, p.d + 1));
  return {
    start: rfc3339(localMidnight(p.y, p.m, p.d, tz)),
    end: rfc3339(localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), tz)),
  };
}

function localText(iso, tz) {
  const p = zoneParts(parseInstant(iso), tz);
  const two = (n) => String(n).padStart(2, '0');
  return `${p.y}-${two(p.m)}-${two(p.d)} ${two(p.h)}:${two(p.min)}`;
}

function validZone(tz) {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch (_) {
    return false;
  }
}

// ---- Numbers ----

const kwh = (wh) => (wh / 1000).toFixed(3);
const percent = (fraction) => `${(fraction * 100).toFixed(1)} %`;

function numberCell(row, wh) {
  const cell = row.insertCell();
  cell.dataset.value = String(wh);
  cell.textContent = kwh(wh);
  cell.className = 'number';
  return cell;
}

// ---- The picker ----

function option(select, value, text) {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = text;
  select.append(element);
}

function fillSelect(select, items, wholeText) {
  select.replaceChildren();
  if (wholeText !== null) option(select, '', wholeText);
  for (const item of items) option(select, item.id, item.name);
  select.disabled = items.length === 0;
}

function selectedBrand() {
  return brands.find((brand) => brand.id === $('brand').value);
}

function selectedOrganization() {
  const brand = selectedBrand();
  return brand && brand.organizations.find((organization) => organization.id === $('organization').value);
}

function onBrandChange() {
  const brand = selectedBrand();
  fillSelect($('organization'), brand ? brand.organizations : [], '(the whole brand)');
  onOrganizationChange();
}

function onOrganizationChange() {
  const organization = selectedOrganization();
  fillSelect($('location'), organization ? organization.locations : [], '(the whole organization)');
  fillSelect($('sensor'), [], '(the whole location)');
}

async function onLocationChange() {
  fillSelect($('sensor'), [], '(the whole location)');
  const id = $('location').value;
  if (!id) return;
  try {
    const summary = await api(path`/v1/locations/${id}/circuit-summary`);
    fillSelect($('sensor'), summary.sensors, '(the whole location)');
  } catch (error) {
    showError(error);
  }
}

/** The deepest entity the picker names. */
function pickedTarget() {
  for (const kind of ['sensor', 'location', 'organization', 'brand']) {
    if ($(kind).value) return { kind, id: $(kind).value };
  }
  return null;
}

/** Sets the picker to `target`, finding its ancestors through the API. */
async function pick(target) {
  let brandId = null;
  let organizationId = null;
  let locationId = null;
  if (target.kind === 'brand') brandId = target.id;
  if (target.kind === 'organization') organizationId = target.id;
  if (target.kind === 'sensor') {
    const sensor = await api(path`/v1/electric_sensors/${target.id}`);
    locationId = sensor.location.id;
    organizationId = sensor.location.organization_id;
  }
  if (target.kind === 'location') {
    locationId = target.id;
    const summary = await api(path`/v1/locations/${target.id}/circuit-summary`);
    organizationId = summary.organization.id;
  }
  if (organizationId) {
    const owner = brands.find((brand) => brand.organizations.some((o) => o.id === organizationId));
    brandId = owner ? owner.id : null;
  }
  $('brand').value = brandId || '';
  onBrandChange();
  $('organization').value = organizationId || '';
  onOrganizationChange();
  if (locationId) {
    $('location').value = locationId;
    await onLocationChange();
  }
  if (target.kind === 'sensor') $('sensor').value = target.id;
}

// ---- The URL ----

/** The view the URL names; an id that is not a UUID is refused before any path is built. */
function viewFromUrl() {
  const params = new URLSearchParams(window.location.search);
  let target = null;
  for (const kind of ['sensor', 'location', 'organization', 'brand']) {
    const id = params.get(kind);
    if (id) {
      if (!UUID.test(id)) throw new Error(`the address's ${kind} is not an id (a UUID): ${JSON.stringify(id.slice(0, 80))}`);
      target = { kind, id };
      break;
    }
  }
  return {
    target,
    start: params.get('start'),
    end: params.get('end'),
    bucket: params.get('bucket'),
    tz: params.get('tz'),
  };
}

function urlOf(view) {
  const params = new URLSearchParams();
  params.set(view.target.kind, view.target.id);
  params.set('start', view.start);
  params.set('end', view.end);
  params.set('bucket', view.bucket);
  params.set('tz', view.tz);
  return `/?${params}`;
}

// ---- The view ----

const PLURAL = {
  brand: 'brands', organization: 'organizations', location: 'locations', sensor: 'sensors', circuit: 'circuits',
};

function usagePath(kind, id, view, extra) {
  const params = new URLSearchParams({ start: view.start, end: view.end, bucket: view.bucket, tz: view.tz, ...extra });
  return `${path`/v1/insights/${PLURAL[kind]}/${id}/usage`}?${params}`;
}

/** The bucket-by-bucket sum of several series (a sensor's circuits into the sensor). */
function sumSeries(list) {
  return list[0].map((bucket, index) => ({
    start: bucket.start,
    end: bucket.end,
    usage: {
      energy_wh: list.reduce((sum, series) => sum + series[index].usage.energy_wh, 0),
      coverage: list.reduce((sum, series) => sum + series[index].usage.coverage, 0) / list.length,
    },
  }));
}

/**
 * Everything the page shows for a view: the entity's own answer, and each part's series.
 * Brands split by organization, organizations by location, locations by sensor and sensors by
 * circuit; a sensor's total is the sum of its circuits, as the API has no sensor usage.
 */
async function fetchView(view) {
  const { kind, id } = view.target;
  const full = { demand_interval: DEMAND_INTERVAL, top: String(TOP) };
  if (kind === 'sensor') {
    const sensor = await api(path`/v1/electric_sensors/${id}`);
    const answers = await Promise.all(sensor.circuits.map((circuit) => api(usagePath('circuit', circuit.id, view, {}))));
    const parts = sensor.circuits.map((circuit, index) => ({
      name: circuit.name, usage: answers[index].usage, series: answers[index].series,
    }));
    const energy = parts.reduce((sum, part) => sum + part.usage.energy_wh, 0);
    const samples = parts.reduce((sum, part) => sum + part.usage.sample_count, 0);
    return {
      title: `Sensor ${sensor.name} at ${sensor.location.name}`,
      usage: {
        energy_wh: energy,
        sample_count: samples,
        coverage: parts.length ? parts.reduce((sum, part) => sum + part.usage.coverage, 0) / parts.length : 1,
        peak_demand: undefined,
      },
      circuitCount: sensor.circuits.length,
      series: parts.length ? sumSeries(parts.map((part) => part.series)) : [],
      totalLabel: 'Sum of circuits',
      parts,
      top: null,
    };
  }
  const answer = await api(usagePath(kind, id, view, full));
  let partRefs;
  let partKind;
  let title;
  if (kind === 'brand') {
    partRefs = answer.organizations; partKind = 'organization'; title = `Brand ${answer.brand.name}`;
  } else if (kind === 'organization') {
    partRefs = answer.locations; partKind = 'location';
    title = `Organization ${answer.organization.name} (${answer.organization.brand.name})`;
  } else {
    partRefs = answer.sensors; partKind = 'sensor';
    title = `Location ${answer.location.name} (${answer.organization.name})`;
  }
  let parts;
  if (partKind === 'sensor') {
    const summary = await api(path`/v1/locations/${id}/circuit-summary`);
    parts = await Promise.all(summary.sensors.map(async (sensor) => {
      const answers = await Promise.all(sensor.circuits.map((circuit) => api(usagePath('circuit', circuit.id, view, {}))));
      const own = partRefs.find((ref) => ref.id === sensor.id);
      return {
        name: sensor.name,
        usage: own ? own.usage : { energy_wh: 0, coverage: 1 },
        series: answers.length ? sumSeries(answers.map((a) => a.series)) : answer.series.map((b) => ({ ...b, usage: { energy_wh: 0, coverage: 1 } })),
      };
    }));
  } else {
    const answers = await Promise.all(partRefs.map((ref) => api(usagePath(partKind, ref.id, view, {}))));
    parts = partRefs.map((ref, index) => ({ name: ref.name, usage: ref.usage, series: answers[index].series }));
  }
  return {
    title,
    usage: answer.usage,
    circuitCount: answer.circuit_count,
    series: answer.series,
    totalLabel: 'Total',
    parts,
    top: answer.top_circuits,
  };
}

function renderSummary(data, view) {
  const summary = $('summary');
  summary.replaceChildren();
  const add = (term, value, key) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    if (key) dd.dataset.key = key;
    summary.append(dt, dd);
  };
  add('Total energy', `${kwh(data.usage.energy_wh)} kWh`, 'energy');
  summary.lastChild.dataset.value = String(data.usage.energy_wh);
  add('Circuits', String(data.circuitCount));
  add('Samples', String(data.usage.sample_count));
  add('Coverage', percent(data.usage.coverage), 'coverage');
  const peak = data.usage.peak_demand;
  if (peak) {
    add(`Peak demand (${DEMAND_INTERVAL} average)`,
      `${(peak.watts / 1000).toFixed(3)} kW, ${localText(peak.start, view.tz)} to ${localText(peak.end, view.tz)}`, 'peak');
    summary.lastChild.dataset.value = String(peak.watts);
  } else if (peak === null) {
    add('Peak demand', 'no samples in the window', 'peak');
  } else {
    add('Peak demand', 'not available for a sensor: the API gives it for circuits, locations, organizations and brands', 'peak');
  }
  const warning = $('coverage-warning');
  const gaps = data.series.filter((bucket) => bucket.usage.coverage < 1).length;
  if (data.usage.coverage < 1) {
    warning.textContent = `Coverage is ${percent(data.usage.coverage)}: samples are missing in ${gaps} of ${data.series.length} buckets (gaps in the data), so energy figures count only the samples present.`;
    warning.hidden = false;
  } else {
    warning.hidden = true;
  }
}

function renderSeriesTable(data, view) {
  const table = $('series-table');
  const head = table.tHead;
  head.replaceChildren();
  const headRow = head.insertRow();
  const th = (row, text) => {
    const cell = document.createElement('th');
    cell.scope = 'col';
    cell.textContent = text;
    row.append(cell);
  };
  th(headRow, `Bucket start (${view.tz})`);
  for (const part of data.parts) th(headRow, part.name);
  th(headRow, data.totalLabel);
  th(headRow, 'Coverage');
  const body = table.tBodies[0];
  body.replaceChildren();
  data.series.forEach((bucket, index) => {
    const row = body.insertRow();
    const label = document.createElement('th');
    label.scope = 'row';
    label.textContent = localText(bucket.start, view.tz);
    label.dataset.start = bucket.start;
    row.append(label);
    for (const part of data.parts) numberCell(row, part.series[index].usage.energy_wh).dataset.part = part.name;
    numberCell(row, bucket.usage.energy_wh).dataset.total = 'true';
    const coverage = row.insertCell();
    coverage.textContent = percent(bucket.usage.coverage);
    coverage.dataset.value = String(bucket.usage.coverage);
    if (bucket.usage.coverage < 1) row.classList.add('gap');
  });
}

function renderParts(data) {
  const body = $('parts-table').tBodies[0];
  body.replaceChildren();
  for (const part of data.parts) {
    const row = body.insertRow();
    const name = document.createElement('th');
    name.scope = 'row';
    name.textContent = part.name;
    row.append(name);
    numberCell(row, part.usage.energy_wh);
    row.insertCell().textContent = data.usage.energy_wh > 0 ? percent(part.usage.energy_wh / data.usage.energy_wh) : '—';
    row.insertCell().textContent = percent(part.usage.coverage);
  }
}

function renderTop(data) {
  $('top-section').hidden = !data.top;
  const body = $('top-table').tBodies[0];
  body.replaceChildren();
  (data.top || []).forEach((entry, index) => {
    const row = body.insertRow();
    row.insertCell().textContent = String(index + 1);
    row.insertCell().textContent = `${entry.circuit.name} (#${entry.circuit.circuit_number})`;
    row.insertCell().textContent = entry.circuit.sensor.name;
    row.insertCell().textContent = entry.circuit.location.name;
    numberCell(row, entry.usage.energy_wh);
  });
}

function renderChart(data, view) {
  const holder = $('chart');
  if (chart) chart.destroy();
  chart = null;
  holder.replaceChildren();
  holder.setAttribute('aria-label',
    `Stacked bars of energy per ${view.bucket} bucket for ${data.parts.length} parts; the table below holds the same numbers.`);
  if (!window.uPlot || data.series.length === 0) return;
  const xs = data.series.map((bucket) => parseInstant(bucket.start) / 1000);
  // Series i is the sum of parts i and after, drawn in order: each later, shorter bar covers
  // the one before but for its own part's share, so the bars stack and the legend keeps the
  // parts' order (the first part on top).
  const stacked = data.parts.map(() => xs.map(() => 0));
  for (let i = data.parts.length - 1; i >= 0; i -= 1) {
    stacked[i] = xs.map((_, index) => (i + 1 < data.parts.length ? stacked[i + 1][index] : 0)
      + data.parts[i].series[index].usage.energy_wh / 1000);
  }
  const order = data.parts.map((_, index) => index);
  // Each bar spans its bucket, from its start: the x scale runs to the last bucket's end.
  const bars = uPlot.paths.bars({ size: [0.9, Infinity], align: 1 });
  const lastEnd = parseInstant(data.series[data.series.length - 1].end) / 1000;
  const peak = data.usage.peak_demand;
  const options = {
    width: Math.max(320, holder.clientWidth || 800),
    height: 320,
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), view.tz),
    scales: { x: { time: true, range: () => [xs[0], lastEnd] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
    axes: [{}, { label: 'kWh per bucket', size: 70 }],
    series: [{ label: 'Bucket start' }].concat(order.map((index) => ({
      label: data.parts[index].name,
      fill: PALETTE[index % PALETTE.length],
      stroke: PALETTE[index % PALETTE.length],
      paths: bars,
      points: { show: false },
      value: (u, value, seriesIndex, idx) => (idx == null ? '—' : kwh(data.parts[index].series[idx].usage.energy_wh)),
    }))),
    hooks: {
      draw: [(u) => {
        if (!peak) return;
        const left = u.valToPos(parseInstant(peak.start) / 1000, 'x', true);
        const right = u.valToPos(parseInstant(peak.end) / 1000, 'x', true);
        const { ctx } = u;
        ctx.save();
        ctx.fillStyle = 'rgba(185, 28, 28, 0.18)';
        ctx.fillRect(left, u.bbox.top, Math.max(2, right - left), u.bbox.height);
        ctx.fillStyle = '#7f1d1d';
        ctx.font = `${Math.round(12 * devicePixelRatio)}px sans-serif`;
        ctx.fillText(`Peak ${(peak.watts / 1000).toFixed(2)} kW`, left + 4, u.bbox.top + 14 * devicePixelRatio);
        ctx.restore();
      }],
    },
  };
  chart = new uPlot(options, [xs].concat(stacked), holder);
}

async function show(view, push) {
  clearError();
  document.body.dataset.state = 'loading';
  $('status').textContent = 'Loading…';
  if (push) window.history.pushState(null, '', urlOf(view));
  else window.history.replaceState(null, '', urlOf(view));
  try {
    const data = await fetchView(view);
    $('title').textContent = data.title;
    $('window-text').textContent = `${localText(view.start, view.tz)} to ${localText(view.end, view.tz)} (${view.tz}), by ${view.bucket}`;
    $('view').hidden = false;
    renderSummary(data, view);
    renderSeriesTable(data, view);
    renderParts(data);
    renderTop(data);
    renderChart(data, view);
    $('status').textContent = `Showing ${data.title}.`;
    document.body.dataset.state = 'ready';
  } catch (error) {
    $('view').hidden = true;
    showError(error);
  }
}

function rangePath(target) {
  return path`/v1/insights/${PLURAL[target.kind]}/${target.id}/data-range`;
}

/** The latest local day with data for the target, or null when it has no samples. */
async function latestDay(target, tz) {
  const range = await api(rangePath(target));
  return range.last_sample ? dayHolding(parseInstant(range.last_sample), tz) : null;
}

function formView() {
  return {
    target: pickedTarget(),
    start: $('start').value.trim(),
    end: $('end').value.trim(),
    bucket: $('bucket').value,
    tz: $('tz').value.trim() || 'UTC',
  };
}

function fillForm(view) {
  $('start').value = view.start;
  $('end').value = view.end;
  $('bucket').value = view.bucket;
  $('tz').value = view.tz;
}

/** Reads the URL, loads the picker, and shows the view (defaults filled in). */
async function load() {
  clearError();
  document.body.dataset.state = 'loading';
  try {
    const wanted = viewFromUrl();
    brands = (await api('/v1/brands')).brands;
    fillSelect($('brand'), brands, null);
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const view = {
      target: wanted.target,
      bucket: wanted.bucket || '1h',
      tz: wanted.tz || browserZone,
      start: wanted.start,
      end: wanted.end,
    };
    if (!view.target) {
      const first = brands[0];
      if (!first) throw new Error('this API key sees no brand');
      view.target = first.organizations.length
        ? { kind: 'organization', id: first.organizations[0].id }
        : { kind: 'brand', id: first.id };
    }
    await pick(view.target);
    if (!view.start || !view.end) {
      const day = await latestDay(view.target, validZone(view.tz) ? view.tz : 'UTC');
      const fallback = dayHolding(Date.now(), validZone(view.tz) ? view.tz : 'UTC');
      view.start = view.start || (day || fallback).start;
      view.end = view.end || (day || fallback).end;
    }
    fillForm(view);
    await show(view, false);
  } catch (error) {
    showError(error);
  }
}

function init() {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC'];
  for (const zone of ['UTC'].concat(zones)) option($('zones'), zone, zone);
  $('apikey').value = sessionStorage.getItem(KEY_STORAGE) || '';
  $('apikey').addEventListener('change', () => {
    const key = $('apikey').value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $('apikey').value = '';
    $('status').textContent = 'The API key is forgotten.';
  });
  $('brand').addEventListener('change', onBrandChange);
  $('organization').addEventListener('change', onOrganizationChange);
  $('location').addEventListener('change', onLocationChange);
  $('latest').addEventListener('click', async () => {
    const view = formView();
    if (!view.target) return;
    try {
      const day = await latestDay(view.target, validZone(view.tz) ? view.tz : 'UTC');
      if (!day) {
        $('status').textContent = 'This entity has no samples yet.';
        return;
      }
      $('start').value = day.start;
      $('end').value = day.end;
    } catch (error) {
      showError(error);
    }
  });
  $('controls').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('apikey').value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    if (!brands.length) {
      load();
      return;
    }
    const view = formView();
    if (!view.target) return;
    show(view, true);
  });
  window.addEventListener('popstate', load);
  load();
}

init();
