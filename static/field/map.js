// The field app's maps, loaded on first use so that the task list never waits for Leaflet: the small map of the
// report form (a pin to drag, the grid cells around it) and the map of my grid (my area, its grid cells, the open
// cases as the command centre draws them, where I am). With no base map configured they draw vectors only.
import { config, getData, h, t } from "./common.js";

let leaflet = null;

/** Leaflet's script and style, once (the service worker has them cached for offline use). */
export function ensureLeaflet() {
  if (window.L) return Promise.resolve(window.L);
  if (leaflet) return leaflet;
  leaflet = new Promise((resolve, reject) => {
    const style = h("link", { rel: "stylesheet", href: config.assets.leafletCss });
    const script = h("script", { src: config.assets.leafletJs });
    script.addEventListener("load", () => resolve(window.L));
    script.addEventListener("error", () => { leaflet = null; reject(new Error("Leaflet did not load")); });
    document.head.append(style, script);
  });
  return leaflet;
}

function baseMap(L, container, options = {}) {
  // No fade animation: a phone's battery and a glance in the sun both prefer tiles drawn at once.
  const map = L.map(container, {
    zoomControl: true, attributionControl: Boolean(config.tileUrl), fadeAnimation: false, ...options,
  });
  if (config.tileUrl) L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
  return map;
}

// A drop pin drawn in CSS (app.css .pin): its tip, 29 px below the box's top, is the point.
const pinIcon = (L) => L.divIcon({ className: "pin", html: "<span></span>", iconSize: [30, 34], iconAnchor: [15, 29] });
const meIcon = (L) => L.divIcon({ className: "me-dot", html: "<span></span>", iconSize: [18, 18], iconAnchor: [9, 9] });

const CELL_STYLE = { color: "#5d7fa3", weight: 1, fill: false, interactive: false };
const MY_CELL_STYLE = { color: "#0b5cad", weight: 2.5, fillColor: "#1b74d1", fillOpacity: 0.08, interactive: false };

/** Grid cells inside the map's view once it is close enough to tell them apart (a GeoJSON layer, refreshed). */
function gridCells(L, map, minZoom = 15) {
  const layer = L.geoJSON(null, { style: () => CELL_STYLE }).addTo(map);
  let last = "";
  let controller = null;
  async function refresh() {
    if (map.getZoom() < minZoom) { layer.clearLayers(); last = ""; return; }
    const b = map.getBounds().pad(0.2);
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    if (bbox === last) return;
    last = bbox;
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      const response = await fetch(`/api/v1/grid-cells/?in_bbox=${bbox}&limit=400`, {
        credentials: "same-origin", headers: { Accept: "application/json" }, signal: controller.signal,
      });
      if (!response.ok) return;
      const body = await response.json();
      layer.clearLayers();
      layer.addData(body.features || []);
    } catch (_) { /* offline: no cells drawn */ }
  }
  map.on("moveend", refresh);
  return { layer, refresh };
}

/**
 * The report form's map: the pin where the problem is (dragged, or put where the map is tapped), the phone's
 * accuracy as a circle, the grid cell the pin falls in highlighted. onPick({lon, lat}) when the inspector moves it.
 */
export async function pinMap(container, { position, onPick }) {
  const L = await ensureLeaflet();
  const map = baseMap(L, container, { zoomControl: false });
  L.control.zoom({ position: "bottomright" }).addTo(map);
  const start = position ? [position.lat, position.lon] : config.center;
  map.setView(start, position ? 17 : 12);
  const cells = gridCells(L, map, 15);
  const mine = L.geoJSON(null, { style: () => MY_CELL_STYLE }).addTo(map);
  const accuracy = L.circle(start, { radius: 1, color: "#1b74d1", weight: 1, fillOpacity: 0.1, interactive: false });
  const marker = L.marker(start, { draggable: true, icon: pinIcon(L), autoPan: true, title: t("dragPin") });
  if (position) marker.addTo(map);
  marker.on("dragend", () => {
    const ll = marker.getLatLng();
    onPick({ lon: ll.lng, lat: ll.lat });
  });
  map.on("click", (event) => {
    marker.setLatLng(event.latlng).addTo(map);
    onPick({ lon: event.latlng.lng, lat: event.latlng.lat });
  });
  const resize = new ResizeObserver(() => map.invalidateSize());
  resize.observe(container);
  cells.refresh();
  container.dataset.ready = "true";
  return {
    /** Move the pin (and the view, if `follow`) to a position; `accuracyM` draws the GPS circle. */
    setPosition(p, { accuracyM = 0, follow = true } = {}) {
      const ll = [p.lat, p.lon];
      marker.setLatLng(ll).addTo(map);
      if (accuracyM) accuracy.setLatLng(ll).setRadius(accuracyM).addTo(map);
      else accuracy.remove();
      if (follow) map.setView(ll, Math.max(map.getZoom(), 17), { animate: false });
    },
    showCell(feature) {
      mine.clearLayers();
      if (feature) mine.addData(feature);
    },
    remove() { resize.disconnect(); map.off(); map.remove(); },
  };
}

const STATE_COLOURS = { intake: "#e67e22", dispatch: "#1b74d1", handling: "#7d4fc4", check: "#14a0a8" };
const STATE_GROUP = {
  verifying: "intake", reported: "intake", registered: "dispatch", returned: "dispatch", dispatched: "dispatch",
  handling: "handling", rework: "handling", extension_pending: "handling", on_hold: "handling", handled: "check",
};
const URGENCY_RINGS = { emergency: "#7b1010", urgent: "#d68910" };

/** The map of my grid: my area's outline, its grid cells, the open cases (clustered tiles), and where I am. */
export async function gridMap(container, { position, onCase }) {
  const L = await ensureLeaflet();
  const { ClusterLayer } = await import(config.assets.clusterLayer);
  const map = baseMap(L, container, { zoomControl: false });
  L.control.zoom({ position: "bottomright" }).addTo(map);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  map.setView(position ? [position.lat, position.lon] : config.center, position ? 16 : 12);
  const area = L.geoJSON(null, { style: () => ({ color: "#0b5cad", weight: 2, dashArray: "6 4", fill: false, interactive: false }) }).addTo(map);
  gridCells(L, map, 15).refresh();
  const cases = new ClusterLayer({
    url: "/api/v1/map/cases/{z}/{x}/{y}/",
    colour: (point) => (point.is_overdue ? "#c0392b" : STATE_COLOURS[STATE_GROUP[point.status]] || "#5f6c7b"),
    ring: (item) => URGENCY_RINGS[item.urgency] || null,
    radius: (point) => (point.urgency === "emergency" ? 8 : 7),
    onPointClick: (point) => onCase(point),
  }).addTo(map);
  cases.on("load", () => { container.dataset.casesDrawn = "true"; });
  const legend = L.control({ position: "topleft" });
  legend.onAdd = () => h("div.map-legend", {}, [
    [STATE_COLOURS.intake, t("legendIntake")], [STATE_COLOURS.dispatch, t("legendDispatch")],
    [STATE_COLOURS.handling, t("legendHandling")], [STATE_COLOURS.check, t("legendCheck")], ["#c0392b", t("legendOverdue")],
  ].map(([colour, label]) => h("span", {}, h("i", { style: `background:${colour}` }), label)));
  legend.addTo(map);
  const me = L.marker([0, 0], { icon: meIcon(L), interactive: false, keyboard: false });
  const accuracy = L.circle([0, 0], { radius: 1, color: "#1b74d1", weight: 1, fillOpacity: 0.08, interactive: false });
  let centred = Boolean(position);
  function setMe(p) {
    me.setLatLng([p.lat, p.lon]).addTo(map);
    if (p.accuracy) accuracy.setLatLng([p.lat, p.lon]).setRadius(p.accuracy).addTo(map);
    if (!centred) { map.setView([p.lat, p.lon], 16); centred = true; }
  }
  if (position) setMe(position);
  getData("/api/v1/streets/?limit=20", "my-streets")
    .then((result) => {
      area.addData(result.body.features || []);
      if (!centred && area.getLayers().length) { map.fitBounds(area.getBounds(), { padding: [12, 12] }); centred = true; }
    })
    .catch(() => { /* no outline offline before the first load */ });
  const resize = new ResizeObserver(() => map.invalidateSize());
  resize.observe(container);
  container.dataset.ready = "true";
  return {
    setMe,
    recentre() { if (me._map) map.setView(me.getLatLng(), Math.max(map.getZoom(), 16)); },
    remove() { resize.disconnect(); map.off(); map.remove(); },
  };
}
