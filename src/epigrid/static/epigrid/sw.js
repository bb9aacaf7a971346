// The service worker's code, imported by /sw.js (core/pwa.py), which sets self.EPIGRID_SW to the
// URLs of the vendored Workbox modules (hashed in production) and the static prefix.
// What it keeps for use without a network:
// - the pages a grid member and a guard work from (the day page, the alerts, a gate page): network first, the
//   last copy when the network fails, so that they open in a stairwell or at a gate;
// - the static files (CSS, scripts, icons): served from the cache, refreshed behind.
// The page deletes the kept pages (they show names and addresses) at logout and on the login
// page, so that a shared phone keeps nothing of the last user. Nothing is sent from here: readings and scans taken offline wait in IndexedDB and are sent by the
// page (static/epigrid/offline.js) with the logged-in session when the network returns.
(function () {
  var config = self.EPIGRID_SW;
  workbox.setConfig({
    modulePathCb: function (name) { return config.workbox[name.replace(/^workbox-/, "")]; },
  });
  // Load every module now: a service worker may import scripts only while it is first evaluated.
  var core = workbox.core;
  var routing = workbox.routing;
  var strategies = workbox.strategies;

  var PAGES = "epigrid-pages";
  var SHELL = /^\/(health\/today\/|gates\/\d+\/|alerts\/)$/;

  self.addEventListener("install", function () { self.skipWaiting(); });
  core.clientsClaim();

  // Only the page itself, answered 200 to this user: never a redirect to the login page, an error
  // page or another origin's answer stored under the page's address.
  var onlyThePage = {
    cacheWillUpdate: function (o) {
      var r = o.response;
      return r && r.status === 200 && r.type === "basic" && !r.redirected ? r : null;
    },
  };

  routing.registerRoute(
    function (o) {
      return o.request.mode === "navigate" && o.url.origin === self.location.origin && SHELL.test(o.url.pathname);
    },
    new strategies.NetworkFirst({ cacheName: PAGES, networkTimeoutSeconds: 6, plugins: [onlyThePage] })
  );
  routing.registerRoute(
    function (o) {
      return o.request.method === "GET" && o.url.origin === self.location.origin &&
        o.url.pathname.indexOf(config.static) === 0;
    },
    new strategies.StaleWhileRevalidate({ cacheName: "epigrid-static", plugins: [onlyThePage] })
  );
})();
