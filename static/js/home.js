// Home page: the districts in the user's scope as vector outlines (a base map only if one is configured),
// linked both ways with the district table.
(function () {
  "use strict";
  const mapEl = document.getElementById("home-map");
  if (!mapEl || typeof L === "undefined") return;
  const districts = JSON.parse(document.getElementById("home-districts").textContent);
  const config = JSON.parse(document.getElementById("home-map-config").textContent);

  const map = L.map(mapEl, { zoomSnap: 0.25, attributionControl: Boolean(config.tileUrl) });
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);

  const base = { color: "#0b5cad", weight: 1.5, fillColor: "#1b74d1", fillOpacity: 0.08 };
  const hot = { weight: 2.5, fillOpacity: 0.28 };
  const rows = new Map();
  document.querySelectorAll("#districts tr[data-district]").forEach((row) => rows.set(row.dataset.district, row));
  const layers = new Map();

  const outlines = L.geoJSON(districts, {
    style: () => base,
    onEachFeature: (feature, layer) => {
      const id = String(feature.id);
      layers.set(id, layer);
      const [lon, lat] = feature.properties.label;
      L.tooltip({ permanent: true, direction: "center", className: "district-label", interactive: false })
        .setLatLng([lat, lon])
        .setContent(feature.properties.name)
        .addTo(map);
      layer.on("mouseover", () => highlight(id, true));
      layer.on("mouseout", () => highlight(id, false));
      layer.on("click", () => map.fitBounds(layer.getBounds(), { padding: [16, 16] }));
    },
  }).addTo(map);

  function highlight(id, on) {
    const layer = layers.get(id);
    if (layer) layer.setStyle(on ? hot : base);
    const row = rows.get(id);
    if (row) row.classList.toggle("hot", on);
  }

  rows.forEach((row, id) => {
    row.addEventListener("mouseenter", () => highlight(id, true));
    row.addEventListener("mouseleave", () => highlight(id, false));
    row.addEventListener("click", () => layers.get(id) && map.fitBounds(layers.get(id).getBounds(), { padding: [16, 16] }));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter") row.click();
    });
  });

  const fitAll = () => {
    if (outlines.getLayers().length) {
      map.fitBounds(outlines.getBounds(), { padding: [12, 12] });
    } else {
      map.setView(config.center, config.zoom);
    }
  };
  fitAll();
  // The map fills a flex panel: re-measure once the layout has settled and whenever the window changes.
  new ResizeObserver(() => map.invalidateSize()).observe(mapEl);
  mapEl.dataset.ready = "true";
})();
