// Command centre (指挥中心): the work queues with live counts, one map of the city (boundaries, cases,
// components), a KPI strip for today, and a side panel that shows a case and runs its actions.
//
// Everything here reads the same scoped API as the rest of the platform; the live feed only says *what*
// changed, and the page re-reads what it shows (debounced, so a burst of reports is a few requests, not
// hundreds). Nothing is kept that the server cannot give again: after a resync, everything is re-read.
import { openLiveFeed } from "./live.js";
import { ClusterLayer } from "./cluster-layer.js";
import { installAlarms } from "../lifelines/command-alarms.js";

const config = JSON.parse(document.getElementById("command-config").textContent);
const text = JSON.parse(document.getElementById("command-text").textContent);
const outlines = JSON.parse(document.getElementById("command-outlines").textContent);
const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";

const state = {
  district: "",
  queue: config.queues[0].name,
  next: null, // the current queue's next page
  selected: null, // the open case's number
  counts: {},
};
const el = {
  grid: document.getElementById("command-grid"),
  tabs: document.getElementById("queue-tabs"),
  list: document.getElementById("queue-list"),
  panel: document.getElementById("case-panel"),
  panelBody: document.getElementById("case-panel-body"),
  panelTitle: document.getElementById("case-panel-title"),
  kpis: document.getElementById("kpis"),
  district: document.getElementById("district-filter"),
  badge: document.getElementById("live-badge"),
  map: document.getElementById("command-map"),
};

// ---------------------------------------------------------------- helpers

async function getJSON(url, { signal } = {}) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal });
  if (!response.ok) throw new Error(`${response.status} ${url}`);
  return response.json();
}

function withDistrict(url) {
  if (!state.district) return url;
  return url + (url.includes("?") ? "&" : "?") + "district=" + encodeURIComponent(state.district);
}

/** Run `fn` at most once per `ms`, trailing (the last call always runs). */
function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  return function run() {
    if (timer) { pending = true; return; }
    fn();
    timer = setTimeout(() => { timer = null; if (pending) { pending = false; run(); } }, ms);
  };
}

function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function countdown(deadline) {
  if (!deadline) return { label: "", late: false };
  const minutes = Math.round((new Date(deadline).getTime() - Date.now()) / 60000);
  const abs = Math.abs(minutes);
  const span = abs >= 1440 ? `${Math.floor(abs / 1440)}${text.days} ${Math.floor((abs % 1440) / 60)}${text.hours}`
    : abs >= 60 ? `${Math.floor(abs / 60)}${text.hours} ${abs % 60}${text.minutes}` : `${abs}${text.minutes}`;
  return minutes < 0 ? { label: `${text.overdueBy} ${span}`, late: true } : { label: `${span} ${text.left}`, late: false };
}

// ---------------------------------------------------------------- queues

function renderTabs() {
  el.tabs.replaceChildren(...config.queues.map((queue) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "tab");
    button.dataset.queue = queue.name;
    button.title = queue.hint;
    button.setAttribute("aria-selected", String(queue.name === state.queue));
    button.innerHTML = `<span>${escapeHtml(queue.label)}</span><span class="n">${state.counts[queue.name] ?? "–"}</span>`;
    button.addEventListener("click", () => { state.queue = queue.name; renderTabs(); loadQueue(); });
    li.append(button);
    return li;
  }));
}

async function loadCounts() {
  try {
    const data = await getJSON(withDistrict("/api/v1/command/queues/"));
    for (const queue of data.queues) {
      const before = state.counts[queue.name];
      state.counts[queue.name] = queue.count;
      const button = el.tabs.querySelector(`[data-queue="${queue.name}"]`);
      if (!button) continue;
      button.querySelector(".n").textContent = queue.count;
      if (before !== undefined && before !== queue.count) {
        button.classList.remove("bumped");
        void button.offsetWidth; // restart the animation
        button.classList.add("bumped");
      }
    }
    el.tabs.dataset.loaded = "true";
  } catch (error) {
    console.warn("queue counts", error);
  }
}

let queueAbort = null;

function queueUrl() {
  const queue = config.queues.find((q) => q.name === state.queue);
  return withDistrict(queue.api) + "&limit=50";
}

function caseRow(item, freshIds) {
  if (item.case_number !== undefined) return supervisionRow(item);
  const li = document.createElement("li");
  li.className = "q-row";
  li.tabIndex = 0;
  li.dataset.number = item.number;
  li.dataset.id = item.id;
  if (item.number === state.selected) li.classList.add("selected");
  if (freshIds && freshIds.has(item.id)) li.classList.add("fresh");
  const due = countdown(item.deadline);
  const tags = [
    item.is_key ? `<span class="tag tag-strong">${text.key}</span>` : "",
    item.is_difficult ? `<span class="tag tag-warn">${text.difficult}</span>` : "",
    item.return_count >= 2 ? `<span class="tag tag-late">${text.disputed}</span>` : "",
  ].join("");
  li.innerHTML = `<span class="q-dot u-${escapeHtml(item.urgency)}"></span>`
    + `<span class="q-main">${escapeHtml(item.minor_class_name)} <span class="q-num">${escapeHtml(item.number)}</span></span>`
    + `<span class="q-due${due.late || item.is_overdue ? " late" : ""}" data-deadline="${escapeHtml(item.deadline || "")}">${escapeHtml(due.label)}</span>`
    + `<span class="q-sub">${tags}${escapeHtml(item.district_name || "")}${item.street_name ? " · " + escapeHtml(item.street_name) : ""}`
    + `${item.address ? " · " + escapeHtml(item.address) : ""} · <span class="status status-${escapeHtml(item.status)}">${escapeHtml(item.status_display)}</span></span>`;
  li.addEventListener("click", () => openCase(item.number, { pan: [item.lon, item.lat] }));
  li.addEventListener("keydown", (event) => { if (event.key === "Enter") openCase(item.number, { pan: [item.lon, item.lat] }); });
  return li;
}

function supervisionRow(item) {
  const li = document.createElement("li");
  li.className = "q-row";
  li.tabIndex = 0;
  li.dataset.number = item.case_number;
  li.innerHTML = `<span class="q-dot u-urgent"></span>`
    + `<span class="q-main">${escapeHtml(item.kind_display)} → ${escapeHtml(item.to_unit_name)} <span class="q-num">${escapeHtml(item.case_number)}</span></span>`
    + `<span class="q-due">${escapeHtml((item.created_at || "").slice(5, 16).replace("T", " "))}</span>`
    + `<span class="q-sub">${escapeHtml(item.text)}</span>`;
  li.addEventListener("click", () => openCase(item.case_number));
  return li;
}

async function loadQueue({ freshIds = null, append = false } = {}) {
  if (queueAbort) queueAbort.abort();
  queueAbort = new AbortController();
  const url = append ? state.next : queueUrl();
  if (!url) return;
  if (!append && !el.list.firstChild) el.list.innerHTML = `<p class="q-empty">${text.loading}</p>`;
  let data;
  try {
    data = await getJSON(url, { signal: queueAbort.signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    el.list.innerHTML = `<p class="q-empty">${text.failed}</p>`;
    setTimeout(() => loadQueue(), 5000);
    return;
  }
  state.next = data.next;
  let ol = el.list.querySelector("ol");
  if (!append || !ol) {
    ol = document.createElement("ol");
    el.list.replaceChildren(ol);
  } else {
    el.list.querySelector(".q-more")?.remove();
  }
  ol.append(...data.results.map((item) => caseRow(item, freshIds)));
  if (!ol.children.length) el.list.innerHTML = `<p class="q-empty">${text.empty}</p>`;
  if (data.next) {
    const more = document.createElement("p");
    more.className = "q-more";
    more.innerHTML = `<button type="button">${text.more}</button>`;
    more.querySelector("button").addEventListener("click", () => loadQueue({ append: true }));
    el.list.append(more);
  }
  el.list.dataset.queue = state.queue;
  el.list.dataset.loaded = "true";
}

setInterval(() => {
  for (const due of el.list.querySelectorAll(".q-due[data-deadline]")) {
    const value = countdown(due.dataset.deadline || null);
    due.textContent = value.label;
    if (value.late) due.classList.add("late");
  }
}, 30_000);

// ---------------------------------------------------------------- KPI strip

async function loadKpis() {
  try {
    const data = await getJSON(withDistrict("/api/v1/command/kpi/"));
    for (const li of el.kpis.querySelectorAll("[data-kpi]")) {
      const value = data[li.dataset.kpi];
      li.querySelector("b").textContent = value === null || value === undefined ? "–"
        : li.dataset.kpi === "on_time_rate" ? `${Math.round(value * 1000) / 10}%` : value;
    }
    el.kpis.dataset.loaded = "true";
  } catch (error) {
    console.warn("kpi", error);
  }
}

// ---------------------------------------------------------------- map

const map = L.map(el.map, { zoomSnap: 0.5, attributionControl: Boolean(config.tileUrl), preferCanvas: true });
map.setView(config.center, config.zoom);
L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
if (config.tileUrl) L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);

const districtLayer = L.geoJSON(outlines, {
  style: () => ({ color: "#0b5cad", weight: 1.4, fill: false }),
  interactive: false,
}).addTo(map);
function fitCity() {
  if (districtLayer.getLayers().length) map.fitBounds(districtLayer.getBounds(), { padding: [12, 12] });
}
fitCity();
// Every case lies inside the city (intake refuses others): tiles beyond its outline are never asked for.
const cityBounds = districtLayer.getLayers().length ? districtLayer.getBounds().pad(0.02) : undefined;

/** A boundary layer fetched from a GeoJSON list endpoint for the visible box, from `minZoom` on. */
function boundaryLayer(endpoint, style, minZoom) {
  const layer = L.geoJSON(null, { style: () => style, interactive: false });
  let abort = null;
  const hint = L.control({ position: "bottomleft" });
  hint.onAdd = () => Object.assign(document.createElement("div"), { className: "map-hint", textContent: text.zoomIn });
  async function refresh() {
    if (!map.hasLayer(layer)) return;
    if (abort) abort.abort();
    if (map.getZoom() < minZoom) { layer.clearLayers(); if (!hint._map) hint.addTo(map); return; }
    if (hint._map) hint.remove();
    abort = new AbortController();
    const b = map.getBounds();
    const box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    try {
      const data = await getJSON(`${endpoint}?in_bbox=${box}&limit=1000`, { signal: abort.signal });
      layer.clearLayers();
      layer.addData(data.features);
    } catch (error) {
      if (error.name !== "AbortError") console.warn(endpoint, error);
    }
  }
  map.on("moveend", refresh);
  layer.on("add", refresh);
  layer.on("remove", () => { layer.clearLayers(); if (hint._map) hint.remove(); });
  return layer;
}

const streetLayer = boundaryLayer("/api/v1/streets/", { color: "#4a7fb5", weight: 1, dashArray: "4 3", fill: false }, 12);
const gridLayer = boundaryLayer("/api/v1/grid-cells/", { color: "#8aa4bf", weight: 0.6, fill: false }, 15);

const STATE_COLOURS = {
  intake: "#e67e22", // verifying, reported
  dispatch: "#1b74d1", // registered, returned, dispatched
  handling: "#7d4fc4", // handling, rework, extension, on hold
  check: "#14a0a8", // handled
};
const STATE_GROUP = {
  verifying: "intake", reported: "intake", registered: "dispatch", returned: "dispatch", dispatched: "dispatch",
  handling: "handling", rework: "handling", extension_pending: "handling", on_hold: "handling", handled: "check",
};

const URGENCY_RINGS = { emergency: "#7b1010", urgent: "#d68910" };

function caseColour(point) {
  if (point.is_overdue) return "#c0392b";
  return STATE_COLOURS[STATE_GROUP[point.status]] || "#5f6c7b";
}

const caseLayer = new ClusterLayer({
  url: () => withDistrict("/api/v1/map/cases/{z}/{x}/{y}/"),
  colour: caseColour,
  onPointClick: (point) => openCase(point.number),
  // Urgency as the outline: emergency dark red, urgent amber (a cluster takes its most urgent case's).
  ring: (item) => URGENCY_RINGS[item.urgency] || null,
  radius: (point) => (point.urgency === "emergency" ? 6 : point.urgency === "urgent" ? 5 : 4),
  tooltip: (item, kind) => (kind === "point" ? `${item.number}` : null),
  bounds: cityBounds,
});
caseLayer.on("load", () => { el.map.dataset.casesDrawn = "true"; });
const componentLayer = new ClusterLayer({
  url: () => "/api/v1/map/components/{z}/{x}/{y}/",
  colour: () => "#6b7d8f",
  clusterColour: "#6b7d8f",
  radius: 3,
  bounds: cityBounds,
});

// Inspectors on duty (/api/v1/field/inspectors/), moved by the live feed's "inspector" events while shown.
const inspectorLayer = L.layerGroup();
const inspectorMarkers = new Map(); // user id -> circle marker

function placeInspector(item) {
  const old = inspectorMarkers.get(item.user);
  if (item.on_duty === false || item.lon === null || item.lon === undefined) {
    if (old) { old.remove(); inspectorMarkers.delete(item.user); }
    return;
  }
  const style = { radius: 6, color: "#fff", weight: 2, fillColor: item.stale ? "#8a96a3" : "#1e8e3e", fillOpacity: 0.95 };
  const marker = (old || L.circleMarker([item.lat, item.lon]).addTo(inspectorLayer)).setLatLng([item.lat, item.lon]).setStyle(style);
  const time = item.at ? new Date(item.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  const label = `${escapeHtml(item.name)}${time ? " · " + time : ""}`;
  if (marker.getTooltip()) marker.setTooltipContent(label); else marker.bindTooltip(label);
  inspectorMarkers.set(item.user, marker);
}

async function loadInspectors() {
  if (!map.hasLayer(inspectorLayer)) return;
  try {
    const data = await getJSON("/api/v1/field/inspectors/");
    inspectorLayer.clearLayers();
    inspectorMarkers.clear();
    data.results.forEach(placeInspector);
    el.map.dataset.inspectorsDrawn = String(inspectorMarkers.size);
  } catch (error) {
    console.warn("inspectors", error);
  }
}
inspectorLayer.on("add", loadInspectors);
inspectorLayer.on("remove", () => { inspectorLayer.clearLayers(); inspectorMarkers.clear(); });
setInterval(loadInspectors, 60_000); // positions age into "stale"; one thrown away by the feed's 30 s limit arrives

const layersControl = L.control.layers(null, {
  [text.districts]: districtLayer,
  [text.streets]: streetLayer,
  [text.grid]: gridLayer,
  [text.cases]: caseLayer,
  [text.components]: componentLayer,
  [text.inspectors]: inspectorLayer,
}, { collapsed: false, position: "topright" }).addTo(map);

const legend = L.control({ position: "bottomleft" });
legend.onAdd = () => {
  const div = document.createElement("div");
  div.className = "map-legend";
  div.id = "map-legend";
  div.innerHTML = [
    [STATE_COLOURS.intake, text.legendIntake], [STATE_COLOURS.dispatch, text.legendDispatch],
    [STATE_COLOURS.handling, text.legendHandling], [STATE_COLOURS.check, text.legendCheck], ["#c0392b", text.legendOverdue],
  ].map(([colour, label]) => `<div><i style="background:${colour}"></i>${escapeHtml(label)}</div>`).join("")
    + [[URGENCY_RINGS.urgent, text.legendUrgent], [URGENCY_RINGS.emergency, text.legendEmergency]]
      .map(([colour, label]) => `<div><i class="ring" style="border-color:${colour}"></i>${escapeHtml(label)}</div>`).join("");
  return div;
};
legend.addTo(map);

// Lifeline alarms: the queue under the case queues and their map layers (static/lifelines/command-alarms.js).
const lifelineAlarms = installAlarms({ map, layers: layersControl, text, csrf });

// The grid lays the map out after this script ran: fit the city again once it has its real size, and only then
// load the cases (their tiles for the first, provisional view would be fetched for nothing).
let fitted = false;
new ResizeObserver(() => {
  map.invalidateSize();
  if (!fitted && el.map.clientWidth > 0) {
    fitted = true;
    fitCity();
    caseLayer.addTo(map);
  }
}).observe(el.map);
el.map.leafletMap = map; // for the browser tests
el.map.dataset.ready = "true";

// ---------------------------------------------------------------- case panel

let panelAbort = null;

function showPanel(show) {
  el.panel.hidden = !show;
  el.grid.classList.toggle("with-panel", show);
}

async function openCase(number, { pan = null } = {}) {
  state.selected = number;
  for (const row of el.list.querySelectorAll(".q-row")) row.classList.toggle("selected", row.dataset.number === number);
  showPanel(true);
  el.panelTitle.textContent = number;
  if (pan && pan[0] !== undefined && pan[0] !== null) map.panTo([pan[1], pan[0]]);
  if (panelAbort) panelAbort.abort();
  panelAbort = new AbortController();
  el.panelBody.classList.add("loading");
  try {
    const response = await fetch(`/command/cases/${encodeURIComponent(number)}/`, {
      credentials: "same-origin", signal: panelAbort.signal,
    });
    setPanel(await response.text());
  } catch (error) {
    if (error.name !== "AbortError") setPanel(`<p class="muted">${text.failed}</p>`);
  }
}

function setPanel(html) {
  el.panelBody.classList.remove("loading");
  el.panelBody.innerHTML = html;
  el.panelBody.dataset.number = state.selected || "";
  el.panelBody.dataset.dirty = "";
}

el.panelBody.addEventListener("input", () => { el.panelBody.dataset.dirty = "true"; });
el.panelBody.addEventListener("click", (event) => {
  const link = event.target.closest("[data-open-case]");
  if (link) { event.preventDefault(); openCase(link.dataset.openCase); }
});
el.panelBody.addEventListener("submit", async (event) => {
  const form = event.target.closest("form");
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  el.panelBody.classList.add("loading");
  try {
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin", headers: { "X-CSRFToken": csrf },
    });
    setPanel(await response.text());
    if (response.ok) refreshAll();
  } catch (error) {
    el.panelBody.classList.remove("loading");
    if (button) button.disabled = false;
  }
});
document.getElementById("case-panel-close").addEventListener("click", () => {
  state.selected = null;
  showPanel(false);
  for (const row of el.list.querySelectorAll(".q-row.selected")) row.classList.remove("selected");
});

// ---------------------------------------------------------------- live

const refreshCounts = throttle(loadCounts, 1000);
// Today's figures move slowly and cost a scan of today's cases: not more than every 15 s per screen.
const refreshKpis = throttle(loadKpis, 15_000);
const refreshMap = throttle(() => caseLayer.refresh(), 1500);
let freshIds = new Set();
const refreshQueue = throttle(() => { const ids = freshIds; freshIds = new Set(); loadQueue({ freshIds: ids }); }, 1000);

function refreshAll() {
  refreshCounts();
  refreshKpis();
  refreshQueue();
  refreshMap();
}

// New reports pulse on the map for a while, so a dispatcher sees where the city is calling from.
const PULSE_MS = 12_000;
const pulses = new Map();

function pulse(event) {
  if (event.lon === null || event.lon === undefined || pulses.has(event.number)) return;
  const marker = L.marker([event.lat, event.lon], {
    icon: L.divIcon({ className: "case-pulse-icon", html: `<span class="case-pulse" data-number="${escapeHtml(event.number)}"></span>`, iconSize: [18, 18] }),
    keyboard: false,
    title: event.number,
  }).addTo(map);
  marker.on("click", () => openCase(event.number));
  pulses.set(event.number, marker);
  setTimeout(() => { marker.remove(); pulses.delete(event.number); }, PULSE_MS);
}

// What the feed delivered, for the browser tests (numbers of the case events, in arrival order).
const seen = [];
const handled = new Set();
window.commandCentre = { seen, map, alarms: lifelineAlarms };

function onEvents(group, events) {
  let cases = false;
  for (const event of events) {
    if (event.kind === "mode") {
      onModeChange(event);
      continue;
    }
    if (event.kind === "cases") { cases = true; continue; } // a big sweep: reload what is shown
    if (event.kind === "inspector") { if (map.hasLayer(inspectorLayer)) placeInspector(event); continue; }
    if (event.kind === "alarm") { lifelineAlarms.onEvent(event); continue; }
    if (event.kind !== "case") continue;
    // One change reaches a screen through each of its groups it watches (district, street, unit...): once here.
    const key = `${event.case}|${event.action}|${event.at}`;
    if (handled.has(key)) continue;
    handled.add(key);
    if (handled.size > 5000) handled.delete(handled.values().next().value);
    cases = true;
    seen.push(event.number);
    if (event.case !== undefined && event.action === "report") {
      freshIds.add(event.case);
      pulse(event);
    }
    if (state.selected && event.number === state.selected) {
      // Re-read the open case, unless the dispatcher is typing into one of its forms.
      if (el.panelBody.dataset.dirty) el.panel.dataset.stale = "true";
      else openCase(state.selected);
    }
  }
  if (cases) refreshAll();
}

function onModeChange(event) {
  const banner = document.getElementById("mode-banner");
  const chip = document.getElementById("mode-chip");
  document.body.dataset.mode = event.mode;
  if (chip) {
    chip.dataset.mode = event.mode;
    if (event.colour) chip.style.setProperty("--mode-colour", event.colour);
    const label = chip.querySelector("[data-mode-label]");
    if (label) label.textContent = event.label || event.mode;
  }
  if (banner) {
    // The banner partial is re-read with the page; until then say what changed.
    banner.hidden = event.mode === "normal";
    const label = banner.querySelector("[data-mode-label]");
    if (label) label.textContent = event.label || event.mode;
  }
  loadQueue();
  refreshCounts();
}

function setBadge(status) {
  el.badge.dataset.state = status;
  el.badge.textContent = text[status] || status;
}

window.commandCentre.feed = openLiveFeed({
  onEvents,
  onResync: () => { refreshAll(); lifelineAlarms.reload(); },
  onStatus: setBadge,
});

// ---------------------------------------------------------------- start

el.district.addEventListener("change", () => {
  state.district = el.district.value;
  loadCounts();
  loadKpis();
  loadQueue();
  caseLayer.refresh();
});
renderTabs();
loadCounts();
loadQueue();
// Today's figures scan today's cases: fetched once the map and the queue are drawn, so they never hold up the
// screen a dispatcher works from (they fill in a moment later).
let kpisStarted = false;
function startKpis() {
  if (kpisStarted) return;
  kpisStarted = true;
  loadKpis();
  setInterval(loadKpis, 60_000);
}
caseLayer.once("load", () => setTimeout(startKpis, 0));
setTimeout(startKpis, 3000); // whatever the map does
