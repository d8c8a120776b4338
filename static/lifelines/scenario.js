// Scenario page (专题): a small map of the domain's facilities coloured by state; the figures are server-drawn.
/* global L */
const config = JSON.parse(document.getElementById("scenario-config").textContent);
const COLOURS = { normal: "#2e9d62", offline: "#7a8794", blue: "#2f6fd6", yellow: "#e0b400", orange: "#ee7d1a", red: "#d0312d" };
const ORDER = ["normal", "offline", "blue", "yellow", "orange", "red"]; // the worst drawn last, on top

const el = document.getElementById("scenario-map");
const map = L.map(el, { preferCanvas: true, zoomControl: true, attributionControl: Boolean(config.tileUrl) })
  .setView(config.center, config.zoom);
if (config.tileUrl) L.tileLayer(config.tileUrl, { attribution: config.tileAttribution }).addTo(map);
// The district outlines give the dots their place, with or without a base map (offline).
L.geoJSON(config.outlines, { style: () => ({ color: "#0b5cad", weight: 1.2, fill: false }), interactive: false })
  .addTo(map);
const points = [...config.points].sort((a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state));
const layer = L.featureGroup(points.map((p) => L.circleMarker([p.lat, p.lon], {
  radius: p.state === "normal" ? 4 : 7, color: "#fff", weight: 1, fillColor: COLOURS[p.state], fillOpacity: 0.9,
}).bindTooltip(p.name).on("click", () => { window.location.href = `/lifelines/facilities/${p.id}/`; }))).addTo(map);
if (points.length) map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 15 });
el.dataset.ready = "true";
