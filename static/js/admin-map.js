// Admin map widgets: draw the districts as a faint reference layer under the edited geometry, so an
// administrator sees where a point or a boundary lies even when no base map is configured.
(function () {
  "use strict";
  const url = document.currentScript.dataset.districtsUrl;
  let districts = null; // fetched once per page, shared by every map widget on it

  window.addEventListener("map:init", (event) => {
    const map = event.detail.map;
    districts =
      districts ||
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then((response) =>
        response.ok ? response.json() : null,
      );
    districts.then((data) => {
      if (!data || typeof L === "undefined") return;
      const layer = L.geoJSON(data, {
        interactive: false,
        style: { color: "#3d5a80", weight: 1, opacity: 0.7, dashArray: "4 3", fillColor: "#1b74d1", fillOpacity: 0.04 },
      }).addTo(map);
      layer.bringToBack();
    });
  });
})();
