// 网格地图 (Leaflet): the grids as polygons coloured by the chosen figure, on the deployment's tile
// layer when one is set (else a plain background), epidemic points and checkpoints as markers.
(function () {
  var box = document.getElementById("grid-map");
  if (!box || !window.L) return;
  var data = JSON.parse(document.getElementById("map-data").textContent);
  var map = L.map(box, { attributionControl: !!data.attribution });
  if (data.tiles) L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 19 }).addTo(map);
  var values = data.features.map(function (f) { return f.properties.figures[data.figure] || 0; });
  var top = Math.max.apply(null, values.concat([1]));
  function colour(v) {
    if (!v) return "#e8f1ea";
    var t = Math.min(1, v / top);
    return "rgb(" + Math.round(250 - 70 * t) + "," + Math.round(200 - 170 * t) + "," + Math.round(160 - 140 * t) + ")";
  }
  var layer = L.geoJSON(data, {
    style: function (f) {
      return { color: "#444", weight: 1, fillOpacity: 0.75, fillColor: colour(f.properties.figures[data.figure]) };
    },
    onEachFeature: function (f, l) {
      l.bindTooltip(f.properties.name + ": " + (f.properties.figures[data.figure] || 0), { sticky: true });
      l.on("click", function () { window.location.href = f.properties.url; });
    }
  });
  // The view first: Leaflet cannot place a layer on a map without one.
  map.fitBounds(layer.getBounds(), { padding: [12, 12] });
  layer.addTo(map);
  data.markers.forEach(function (m) {
    L.circleMarker([m.at[1], m.at[0]], {
      radius: 7, weight: 2, color: "#fff", fillOpacity: 1, fillColor: m.kind === "point" ? "#cf222e" : "#0969da"
    }).bindTooltip(data.labels[m.kind] + " · " + m.label).on("click", function () { window.location.href = m.url; })
      .addTo(map);
  });
})();
