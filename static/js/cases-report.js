// Report form: click the map to set the case's point (vector district outlines, a base map only if one is
// configured); the hotline caller's fields show only for hotline reports.
(function () {
  "use strict";
  const mapEl = document.getElementById("report-map");
  if (!mapEl || typeof L === "undefined") return;
  const districts = JSON.parse(document.getElementById("report-districts").textContent);
  const lon = document.getElementById("id_lon");
  const lat = document.getElementById("id_lat");
  const label = document.getElementById("report-point");

  const map = L.map(mapEl, { zoomSnap: 0.25, attributionControl: false });
  L.control.scale({ imperial: false }).addTo(map);
  const outlines = L.geoJSON(districts, {
    style: () => ({ color: "#0b5cad", weight: 1.2, fillColor: "#1b74d1", fillOpacity: 0.06 }),
    onEachFeature: (feature, layer) => layer.bindTooltip(feature.properties.name, { sticky: true }),
  }).addTo(map);
  if (outlines.getLayers().length) map.fitBounds(outlines.getBounds(), { padding: [12, 12] });

  let marker = null;
  function place(latlng) {
    if (marker) marker.setLatLng(latlng);
    else marker = L.circleMarker(latlng, { radius: 8, color: "#c0392b", weight: 2, fillColor: "#e74c3c", fillOpacity: 0.8 }).addTo(map);
    lon.value = latlng.lng.toFixed(6);
    lat.value = latlng.lat.toFixed(6);
    label.textContent = `${lon.value}, ${lat.value}`;
  }
  map.on("click", (event) => place(event.latlng));
  outlines.on("click", (event) => place(event.latlng));
  if (lon.value && lat.value) place(L.latLng(Number(lat.value), Number(lon.value)));

  const source = document.getElementById("id_source");
  const hotline = document.querySelector(".hotline-only");
  const toggle = () => { if (hotline) hotline.hidden = source.value !== "hotline_12345"; };
  if (source) { source.addEventListener("change", toggle); toggle(); }
  new ResizeObserver(() => map.invalidateSize()).observe(mapEl);
  mapEl.leafletMap = map; // for the browser tests, which click at a known position
  mapEl.dataset.ready = "true";
})();
