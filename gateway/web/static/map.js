/* The live page's map: posts, guards and a track drawn in SVG over optional slippy-map tiles.
 *
 * Coordinates arrive in the map's datum (converted on the server); they are placed in Web
 * Mercator world pixels, the tiles' own grid, at a zoom that fits the view. The view is as many
 * units as the map has CSS pixels on the screen, so labels and markers read at the style
 * sheet's sizes on a phone as on the control room's screen. Shares the page's
 * ``state`` and ``$`` (app.js, loaded after this file; used only once the page runs).
 */
"use strict";

const TILE = 256;
const MAX_ZOOM = 19;
const VIEW_W = 800; // while the map is not laid out (hidden)
const VIEW_H = 600;
const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Web Mercator world pixels at ``zoom`` (the slippy-map tiles' own grid).
function project(lon, lat, zoom) {
  const scale = TILE * 2 ** zoom;
  const s = Math.sin((lat * Math.PI) / 180);
  return [((lon + 180) / 360) * scale, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale];
}

// The view holds every post, every guard with a fix and the track shown: a guard who walked
// away stays on the map, the map zooming out to keep him.
function fitView() {
  const points = [];
  for (const site of state.map.sites) {
    for (const post of site.posts) for (const poly of post.polygons) points.push(...poly[0]);
  }
  for (const guard of state.guards) {
    if (guard.last_fix && guard.last_fix.map) points.push([guard.last_fix.map.lon, guard.last_fix.map.lat]);
  }
  if (state.track) for (const p of state.track.points) points.push(p.position);
  if (points.length === 0) points.push([114.3, 30.6]);
  // A fractional zoom that fills 85 % of the view; tiles are scaled to it (drawTiles).
  const xy = points.map(([lon, lat]) => project(lon, lat, 0));
  const xs = xy.map((p) => p[0]);
  const ys = xy.map((p) => p[1]);
  const w = Math.max(...xs) - Math.min(...xs);
  const h = Math.max(...ys) - Math.min(...ys);
  const { width, height } = viewSize();
  const fit = Math.min(w > 0 ? (width * 0.85) / w : Infinity,
                       h > 0 ? (height * 0.85) / h : Infinity);
  const zoom = Math.min(MAX_ZOOM, Number.isFinite(fit) ? Math.log2(fit) : MAX_ZOOM);
  const scale = 2 ** zoom;
  const cx = ((Math.max(...xs) + Math.min(...xs)) / 2) * scale;
  const cy = ((Math.max(...ys) + Math.min(...ys)) / 2) * scale;
  state.view = { zoom, width, height, x0: cx - width / 2, y0: cy - height / 2 };
}

// The map's size on the screen: a 15 px label in an 800-unit view drawn 320 px wide (a phone)
// was 6 px high, and a guard's marker a dot.
function viewSize() {
  const box = $("map").getBoundingClientRect();
  if (box.width < 1 || box.height < 1) return { width: VIEW_W, height: VIEW_H };
  return { width: Math.round(box.width), height: Math.round(box.height) };
}

function at([lon, lat]) {
  const [x, y] = project(lon, lat, state.view.zoom);
  return [x - state.view.x0, y - state.view.y0];
}

function drawMap() {
  const map = $("map");
  fitView();
  map.replaceChildren();
  map.setAttribute("viewBox", `0 0 ${state.view.width} ${state.view.height}`);
  map.setAttribute("preserveAspectRatio", "xMidYMid slice");
  if (state.map.tiles) drawTiles(map, state.map.tiles.url);
  for (const site of state.map.sites) {
    for (const post of site.posts) {
      const d = post.polygons.map((poly) => poly.map((ring) =>
        "M" + ring.map((p) => at(p).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join(""))
        .join("");
      const shape = svg("path", { d, class: `post ${post.kind}`, "data-post-id": post.id,
                                  "fill-rule": "evenodd" });
      shape.append(svg("title")); shape.lastChild.textContent = post.name;
      map.append(shape);
      const [lx, ly] = at(post.label_at);
      const label = svg("text", { x: lx.toFixed(1), y: (ly - 4).toFixed(1), class: "post-label" });
      label.textContent = post.name.replace(/\s*\(.*\)$/, "");
      map.append(label);
    }
  }
  if (state.track && state.track.points.length) {
    const line = state.track.points.map((p) => at(p.position).map((v) => v.toFixed(1)).join(","));
    map.append(svg("polyline", { points: line.join(" "), class: "track", id: "track-line" }));
  }
  for (const guard of state.guards) {
    const fix = guard.last_fix;
    if (!fix || !fix.map) continue;
    const [x, y] = at([fix.map.lon, fix.map.lat]);
    const g = svg("g", { class: "guard", "data-guard-id": guard.guard_id,
                         "data-standing": guard.standing, "data-silent": String(guard.silent) });
    if (guard.over_limit) g.setAttribute("data-over-limit", guard.over_limit);
    g.append(svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 9 }));
    const name = svg("text", { x: (x + 12).toFixed(1), y: (y + 6).toFixed(1) });
    name.textContent = guard.guard_name;
    g.append(name);
    map.append(g);
  }
}

function drawTiles(map, template) {
  const { zoom, x0, y0, width, height } = state.view;
  const z = Math.floor(zoom);
  const size = TILE * 2 ** (zoom - z); // a tile of level z, drawn at the view's zoom
  const n = 2 ** z;
  for (let tx = Math.floor(x0 / size); tx <= Math.floor((x0 + width) / size); tx++) {
    for (let ty = Math.floor(y0 / size); ty <= Math.floor((y0 + height) / size); ty++) {
      if (ty < 0 || ty >= n) continue;
      const x = ((tx % n) + n) % n;
      const href = template.replace("{z}", z).replace("{x}", x).replace("{y}", ty)
        .replace("{s}", "abc"[(x + ty) % 3]);
      map.append(svg("image", { href, x: tx * size - x0, y: ty * size - y0,
                                width: size, height: size, class: "tile" }));
    }
  }
}

// A phone turned, a window resized: drawn again at the new size.
let redrawOnResize = null;
window.addEventListener("resize", () => {
  clearTimeout(redrawOnResize);
  redrawOnResize = setTimeout(() => { if (state.map) drawMap(); }, 150);
});
