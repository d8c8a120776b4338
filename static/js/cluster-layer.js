// A Leaflet layer that draws the server's clustered map tiles (/api/v1/map/components/{z}/{x}/{y}/ and
// /api/v1/map/cases/{z}/{x}/{y}/): clusters as circles sized by their count with the count written on them, single
// points as small dots coloured by a callback. One canvas per tile, a little larger than the tile so that a circle
// near the tile's edge is drawn whole; clicks and hovers are matched against the drawn items, not DOM markers.
//
//   const layer = new ClusterLayer({
//     url: "/api/v1/map/cases/{z}/{x}/{y}/",   // or () => template (re-read on every fetch, e.g. for filters)
//     colour: (point) => "#1b74d1",            // a point's fill
//     clusterColour: "#1b74d1",                // or (cluster) => colour
//     ring: (item, kind) => null,              // optional outline colour (e.g. overdue), kind "point" | "cluster"
//     radius: 4,                               // a point's radius in px, or (point) => px
//     tooltip: (item, kind) => null,           // optional hover text
//     onPointClick: (point, event) => {},      // default: nothing
//     onClusterClick: (cluster, event) => {},  // default: zoom in two levels on the cluster
//   }).addTo(map);
//   layer.refresh();  // fetch the visible tiles again (revalidated by ETag) and redraw them in place
//
// Items are plain objects built from the tile's field lists: a case point is {id, number, lon, lat, status,
// urgency, is_overdue, is_key}; a cluster {lon, lat, count, ...} with its by_* arrays turned into objects keyed by
// the tile's `groups`, `majors` or `statuses`. Events: "pointclick" and "clusterclick" ({item, latlng,
// originalEvent}), "tiledata" ({coords, body}), plus GridLayer's "loading", "load", "tileload", "tileerror".
const L = window.L;

const HEADERS = { by_group: "groups", by_major: "majors", by_status: "statuses" };
const HIT_SLOP = 3; // px around a dot that still counts as a hit

function toItem(row, fields, body) {
  const item = {};
  fields.forEach((name, i) => {
    const header = HEADERS[name] && body[HEADERS[name]];
    if (header && Array.isArray(row[i])) {
      item[name] = Object.fromEntries(header.map((key, j) => [key, row[i][j]]));
    } else {
      item[name] = row[i];
    }
  });
  return item;
}

function countLabel(n) {
  if (n < 10000) return String(n);
  if ((document.documentElement.lang || "").toLowerCase().startsWith("zh")) {
    return `${(n / 10000).toFixed(n < 100000 ? 1 : 0)}万`;
  }
  return `${Math.round(n / 1000)}k`;
}

const valueOf = (option, ...args) => (typeof option === "function" ? option(...args) : option);

export const ClusterLayer = L.GridLayer.extend({
  options: {
    url: "",
    colour: "#1b74d1",
    clusterColour: "#1b74d1",
    ring: null,
    radius: 4,
    tooltip: null,
    onPointClick: null,
    onClusterClick: null,
    minClusterRadius: 10,
    maxClusterRadius: 24,
    font: '600 11px "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif',
    pane: "clusterPane", // created above the vector outlines (overlayPane) and below markers
    noWrap: true,
    updateWhenZooming: false,
    keepBuffer: 1,
  },

  initialize(options) {
    L.GridLayer.prototype.initialize.call(this, options);
    this._pad = this.options.maxClusterRadius + 2;
    this._hovered = null;
    this._frame = 0;
  },

  beforeAdd(map) {
    if (this.options.pane === "clusterPane" && !map.getPane("clusterPane")) {
      const pane = map.createPane("clusterPane");
      pane.style.zIndex = 450;
      pane.style.pointerEvents = "none";
    }
  },

  onAdd(map) {
    L.GridLayer.prototype.onAdd.call(this, map);
    map.on("click", this._onClick, this);
    map.on("mousemove", this._onMouseMove, this);
    map.on("mouseout", this._unhover, this);
    this.on("tileunload", this._onTileUnload, this);
  },

  onRemove(map) {
    map.off("click", this._onClick, this);
    map.off("mousemove", this._onMouseMove, this);
    map.off("mouseout", this._unhover, this);
    this.off("tileunload", this._onTileUnload, this);
    this._unhover();
    for (const key in this._tiles) this._abort(this._tiles[key].el);
    L.GridLayer.prototype.onRemove.call(this, map);
  },

  /** Fetch every loaded tile again (stale requests are aborted) and redraw each in place when it arrives. */
  refresh() {
    if (!this._map) return this;
    for (const key in this._tiles) {
      const tile = this._tiles[key];
      if (tile.el._cluster) this._fetch(tile.el, tile.coords, null, true);
    }
    return this;
  },

  /** A new URL template (string or function); the tiles are fetched again. */
  setUrl(url) {
    this.options.url = url;
    return this.refresh();
  },

  createTile(coords, done) {
    const size = this.getTileSize();
    const tile = L.DomUtil.create("div", "cluster-tile");
    const canvas = L.DomUtil.create("canvas", "", tile);
    const ratio = window.devicePixelRatio || 1;
    const width = size.x + 2 * this._pad;
    const height = size.y + 2 * this._pad;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    Object.assign(canvas.style, {
      position: "absolute",
      left: `${-this._pad}px`,
      top: `${-this._pad}px`,
      width: `${width}px`,
      height: `${height}px`,
    });
    tile._cluster = { canvas, ratio, coords, items: [], controller: null, done: null };
    this._fetch(tile, coords, done, false);
    return tile;
  },

  _tileUrl(coords) {
    const template = valueOf(this.options.url);
    return L.Util.template(template, { z: coords.z, x: coords.x, y: coords.y });
  },

  _fetch(tile, coords, done, revalidate) {
    const state = tile._cluster;
    if (state.controller) state.controller.abort();
    // A refresh that overtakes a tile's first load answers that load too (GridLayer waits for its `done`).
    if (done) state.done = done;
    const controller = new AbortController();
    state.controller = controller;
    const finish = (error) => {
      const pending = state.done;
      state.done = null;
      if (pending) pending(error, tile);
      else if (error) this.fire("tileerror", { tile, coords, error });
    };
    fetch(this._tileUrl(coords), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller.signal,
      // A refresh asks the server again (a 304 when nothing changed); a first load may use the browser's copy.
      cache: revalidate ? "no-cache" : "default",
    })
      .then((response) => {
        if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
        return response.json();
      })
      .then((body) => {
        if (state.controller !== controller) return;
        state.controller = null;
        if (!this._map) return;
        state.items = this._items(body, coords);
        this._draw(tile);
        this.fire("tiledata", { coords, body });
        finish(null);
      })
      .catch((error) => {
        if (error.name === "AbortError" || state.controller !== controller) return;
        state.controller = null;
        finish(error);
      });
  },

  _abort(tile) {
    const state = tile && tile._cluster;
    if (state && state.controller) {
      state.controller.abort();
      state.controller = null;
    }
  },

  _onTileUnload(event) {
    this._abort(event.tile);
    if (this._hovered && this._hovered.tile === event.tile) this._unhover();
  },

  /** Drawable items, each with its position in world pixels at the tile's zoom. */
  _items(body, coords) {
    const items = [];
    const { minClusterRadius, maxClusterRadius } = this.options;
    for (const row of body.clusters || []) {
      const item = toItem(row, body.cluster_fields, body);
      const at = this._map.project([item.lat, item.lon], coords.z);
      const r = Math.min(maxClusterRadius, minClusterRadius + 3.5 * Math.log10(Math.max(item.count, 1)));
      items.push({ kind: "cluster", item, x: at.x, y: at.y, r });
    }
    for (const row of body.points || []) {
      const item = toItem(row, body.point_fields, body);
      const at = this._map.project([item.lat, item.lon], coords.z);
      items.push({ kind: "point", item, x: at.x, y: at.y, r: valueOf(this.options.radius, item) });
    }
    return items;
  },

  _draw(tile) {
    const { canvas, ratio, coords, items } = tile._cluster;
    const size = this.getTileSize();
    const left = coords.x * size.x - this._pad;
    const top = coords.y * size.y - this._pad;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, canvas.width / ratio, canvas.height / ratio);
    ctx.font = this.options.font;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const { kind, item, x, y, r } of items) {
      const cx = x - left;
      const cy = y - top;
      const ring = this.options.ring ? this.options.ring(item, kind) : null;
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, 2 * Math.PI);
      if (kind === "cluster") {
        ctx.globalAlpha = 0.88;
        ctx.fillStyle = valueOf(this.options.clusterColour, item);
        ctx.fill();
        ctx.globalAlpha = 1;
        ctx.lineWidth = ring ? 3 : 1.5;
        ctx.strokeStyle = ring || "#ffffff";
        ctx.stroke();
        const label = countLabel(item.count);
        ctx.fillStyle = "#ffffff";
        const fits = Math.min(1, (2 * r - 4) / Math.max(ctx.measureText(label).width, 1));
        if (fits < 1) {
          ctx.save();
          ctx.translate(cx, cy);
          ctx.scale(fits, fits);
          ctx.fillText(label, 0, 0.5);
          ctx.restore();
        } else {
          ctx.fillText(label, cx, cy + 0.5);
        }
      } else {
        ctx.fillStyle = valueOf(this.options.colour, item);
        ctx.fill();
        ctx.lineWidth = ring ? 2 : 1;
        ctx.strokeStyle = ring || "rgba(255, 255, 255, 0.9)";
        ctx.stroke();
      }
    }
  },

  /** The topmost drawn item under a map position, with the tile that drew it, or null. */
  hitTest(latlng) {
    const z = this._tileZoom;
    if (!this._map || z === undefined) return null;
    const at = this._map.project(latlng, z);
    const size = this.getTileSize();
    const tx = Math.floor(at.x / size.x);
    const ty = Math.floor(at.y / size.y);
    let best = null;
    // A tile's circles may reach into its neighbours (the canvas is larger than the tile).
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        const tile = this._tiles[this._tileCoordsToKey({ x: tx + dx, y: ty + dy, z })];
        if (!tile || !tile.el._cluster) continue;
        const items = tile.el._cluster.items;
        for (let i = items.length - 1; i >= 0; i--) {
          const candidate = items[i];
          const reach = candidate.r + (candidate.kind === "point" ? HIT_SLOP : 0);
          const d2 = (candidate.x - at.x) ** 2 + (candidate.y - at.y) ** 2;
          if (d2 <= reach * reach && (!best || d2 < best.d2 || (best.kind === "cluster" && candidate.kind === "point"))) {
            best = { ...candidate, d2, tile: tile.el };
          }
        }
      }
    }
    return best;
  },

  _onClick(event) {
    const hit = this.hitTest(event.latlng);
    if (!hit) return;
    const latlng = L.latLng(hit.item.lat, hit.item.lon);
    if (hit.kind === "point") {
      this.fire("pointclick", { item: hit.item, latlng, originalEvent: event.originalEvent });
      if (this.options.onPointClick) this.options.onPointClick(hit.item, event);
      return;
    }
    this.fire("clusterclick", { item: hit.item, latlng, originalEvent: event.originalEvent });
    if (this.options.onClusterClick) {
      this.options.onClusterClick(hit.item, event);
    } else {
      this._map.setView(latlng, Math.min(this._map.getZoom() + 2, this._map.getMaxZoom()));
    }
  },

  _onMouseMove(event) {
    this._lastMove = event.latlng;
    if (this._frame) return;
    this._frame = window.requestAnimationFrame(() => {
      this._frame = 0;
      if (!this._map || !this._lastMove) return;
      const hit = this.hitTest(this._lastMove);
      if (!hit) {
        this._unhover();
        return;
      }
      if (this._hovered && this._hovered.item === hit.item) return;
      this._hovered = hit;
      this._map.getContainer().style.cursor = "pointer";
      const text = this.options.tooltip ? this.options.tooltip(hit.item, hit.kind) : null;
      if (text) {
        if (!this._tip) this._tip = L.tooltip({ direction: "top", className: "cluster-tooltip" });
        this._tip.options.offset = [0, -hit.r];
        this._tip.setLatLng([hit.item.lat, hit.item.lon]).setContent(text);
        if (!this._map.hasLayer(this._tip)) this._map.openTooltip(this._tip);
      } else if (this._tip) {
        this._map.closeTooltip(this._tip);
      }
    });
  },

  _unhover() {
    if (!this._hovered) return;
    this._hovered = null;
    if (this._map) {
      this._map.getContainer().style.cursor = "";
      if (this._tip) this._map.closeTooltip(this._tip);
    }
  },
});
