// The command dashboard's charts (ECharts): each has a title and a legend; the numbers are also
// in the tables under them and in the .xlsx downloads.
(function () {
  var data = JSON.parse(document.getElementById("dash-data").textContent);
  if (!window.echarts) return;
  var s = data.series, L = data.labels, T = data.text;
  var days = data.days.map(function (d) { return d.slice(5); });
  function line(names, keys, type) {
    return keys.map(function (k, i) {
      return { name: names[i], type: type || "bar", data: s[k] };
    });
  }
  var completeness = s.readings.map(function (r, i) {
    var due = r + s.missed[i];
    return due ? Math.round(100 * r / due) : null;
  });
  var base = function (title, series, extra) {
    var option = {
      title: { text: title, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis" },
      legend: { bottom: 0 },
      grid: { top: 40, left: 40, right: 12, bottom: 56 },
      xAxis: { type: "category", data: days },
      yAxis: { type: "value", minInterval: 1 },
      series: series
    };
    return Object.assign(option, extra || {});
  };
  var options = {
    epicurve: base(T.epicurve, line([L.cases, L.key_persons], ["cases", "key_persons"])),
    completeness: base(T.completeness, [{ name: T.completeness_series, type: "line", data: completeness, connectNulls: false }],
                       { yAxis: { type: "value", min: 0, max: 100 } }),
    orders: base(T.orders, line([L.orders_started, L.orders_ended], ["orders_started", "orders_ended"])),
    tip: base(T.tip, [{ name: T.count, type: "bar", data: data.tip.values }],
              { xAxis: { type: "category", data: data.tip.labels }, tooltip: { trigger: "item" } })
  };
  document.querySelectorAll("[data-chart]").forEach(function (box) {
    var chart = echarts.init(box);
    chart.setOption(options[box.dataset.chart]);
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
