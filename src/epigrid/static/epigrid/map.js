// 网格地图 (Leaflet): the grids as polygons coloured by the chosen figure, on the deployment's tile
// layer when one is set (else a plain background), epidemic points and checkpoints as markers.
(function () {
  var box = document.getElementById("grid-map");
  if (!box || !window.L) return;
  var data = JSON.parse(document.getElementById("map-data").textContent);
  var edit = data.edit && L.PM ? data.edit : null;
  var editing = false; // while a drawing or editing tool is on, a click on a grid does not open it
  // Only the outline being edited is editable, not the coloured grids around it.
  if (edit) L.PM.setOptIn(true);
  var map = L.map(box, { attributionControl: !!data.attribution, pmIgnore: false });
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
      l.on("click", function () { if (!editing) window.location.href = f.properties.url; });
    }
  });
  // The view first: Leaflet cannot place a layer on a map without one.
  var view = layer.getBounds();
  if (!view.isValid() && edit && (edit.boundary || edit.around)) view = L.geoJSON(edit.boundary || edit.around).getBounds();
  if (view.isValid()) map.fitBounds(view, { padding: [12, 12] });
  else map.setView([35, 105], 4);
  layer.addTo(map);
  data.markers.forEach(function (m) {
    L.circleMarker([m.at[1], m.at[0]], {
      radius: 7, weight: 2, color: "#fff", fillOpacity: 1, fillColor: m.kind === "point" ? "#cf222e" : "#0969da"
    }).bindTooltip(data.labels[m.kind] + " · " + m.label).on("click", function () { window.location.href = m.url; })
      .addTo(map);
  });
  // The editor comes on when asked: the map stays a plain map to read (and to click through) till then.
  var start = document.getElementById("outline-start");
  if (edit && start) {
    start.addEventListener("click", function () {
      start.hidden = true;
      document.getElementById("outline-form").hidden = false;
      outlineEditor(map, edit);
    });
  }

  // 画网格边界: the node's own outline as editable polygons, the geoman toolbar to draw more or
  // edit them, and the form's hidden field filled with their GeoJSON geometry on saving.
  function outlineEditor(map, edit) {
    var style = { color: "#0969da", weight: 2, dashArray: "6 4", fillOpacity: 0.1, pmIgnore: false };
    var shapes = [];
    if (edit.boundary) {
      L.geoJSON(edit.boundary, { style: function () { return style; }, pmIgnore: false }).eachLayer(function (l) {
        l.options.pmIgnore = false;
        L.PM.reInitLayer(l);
        l.addTo(map);
        l.bringToBack(); // below the coloured grids inside it, which still open on a click
        shapes.push(l);
      });
    }
    map.pm.setGlobalOptions({ pathOptions: style, snappable: false });
    map.pm.addControls({
      position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawCircle: false,
      drawText: false, cutPolygon: false, rotateMode: false
    });
    map.on("pm:create", function (e) {
      e.layer.options.pmIgnore = false;
      L.PM.reInitLayer(e.layer);
      shapes.push(e.layer);
    });
    map.on("pm:remove", function (e) { shapes = shapes.filter(function (s) { return s !== e.layer; }); });
    ["pm:globaldrawmodetoggled", "pm:globaleditmodetoggled", "pm:globalremovalmodetoggled", "pm:globaldragmodetoggled"]
      .forEach(function (name) { map.on(name, function (e) { editing = e.enabled; }); });
    document.getElementById("outline-form").addEventListener("submit", function () {
      var polygons = [];
      shapes.forEach(function (s) {
        if (!(s instanceof L.Polygon)) return;
        var g = s.toGeoJSON(7).geometry;
        if (g.type === "Polygon") polygons.push(g.coordinates);
        else if (g.type === "MultiPolygon") polygons = polygons.concat(g.coordinates);
      });
      var geometry = polygons.length === 1 ? { type: "Polygon", coordinates: polygons[0] }
        : polygons.length ? { type: "MultiPolygon", coordinates: polygons } : null;
      document.getElementById("outline-boundary").value = JSON.stringify(geometry);
    });
  }
})();
