// The transmission chain of an incident: cases (red), close contacts, secondary contacts, as a
// force graph (the first 500 links; the API pages through the rest).
(function () {
  var box = document.getElementById("chain");
  if (!box || !window.echarts) return;
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      if (!data.nodes || !data.nodes.length) return;
      box.style.height = "360px";
      var colours = { case: "#cf222e", close: "#bf8700", secondary: "#0969da", contact: "#bf8700" };
      var chart = echarts.init(box);
      chart.setOption({
        tooltip: {},
        series: [{
          type: "graph", layout: "force", roam: true, force: { repulsion: 60, edgeLength: 40 },
          data: data.nodes.map(function (n) {
            return { id: String(n.id), name: n.name || String(n.id), symbolSize: n.kind === "case" ? 18 : 9,
                     itemStyle: { color: colours[n.kind] || "#667085" } };
          }),
          links: data.edges.map(function (e) { return { source: String(e.source), target: String(e.target) }; }),
          label: { show: data.nodes.length < 60, position: "right", fontSize: 11 }
        }]
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
})();
