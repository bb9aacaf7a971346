// Working without a network (issue 11 "Offline"): grid members and guards lose signal in
// stairwells and at gates.
// - Registers the service worker (/sw.js), which keeps the day page and the gate pages for offline use.
// - While the browser is offline, a temperature form (form[data-offline=reading]), the gate's scan
//   form (form[data-offline=passage]), the gate's visitor form (form[data-offline=visitor]) or an
//   alert's acknowledge/resolve form (form[data-offline=alert]) is not sent: the row waits in
//   IndexedDB with its own client id (a UUID) and the time it was taken, and #outbox says
//   "3 条待上传". Online,
//   a temperature form whose request gets no answer (a stairwell: the browser still thinks it is
//   online) keeps its reading the same way.
// - When the network returns (and on every page load, and every 20 s) the waiting rows go through
//   the batch endpoints (POST /api/v1/temperatures/batch, /passages/batch, /visitors/batch,
//   /alerts/actions/batch), with the logged-in session and the page's CSRF token, the way htmx
//   sends the page's requests. Every endpoint takes each client id once: a batch sent twice (the
//   answer lost) stores nothing twice.
// - A scan or a visitor taken offline is never shown as 放行: the gate could not check it. It says
//   "离线：仅记录，稍后核验"; the server checks it when it arrives (a refusal raises its alert there).
//   (A visitor's name, phone and ID number wait on the phone until sent, then leave it.)
// Each row belongs to the user who took it: only that user's session sends it (a shared phone).
(function () {
  var box = document.getElementById("outbox");
  if (!box) return;
  var user = box.dataset.user;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(box.dataset.sw, { scope: "/" }).catch(function () {});
    if (!user) forgetPages();
    document.addEventListener("submit", function (event) {
      if (event.target.matches && event.target.matches("form[data-logout]")) forgetPages();
    });
  }

  function forgetPages() {
    // The kept pages show names and addresses: a shared phone keeps nothing of the last user.
    if (window.caches) caches.delete("epigrid-pages").catch(function () {});
  }

  if (!window.indexedDB) return;

  // ------------------------------------------------------------------ the queue (IndexedDB)
  var STORE = "outbox";
  var opened = null;
  function db() {
    if (!opened) {
      opened = new Promise(function (resolve, reject) {
        var request = indexedDB.open("epigrid-offline", 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore(STORE, { keyPath: "client_id" });
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return opened;
  }
  function tx(mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(STORE, mode);
        var result = work(t.objectStore(STORE));
        t.oncomplete = function () { resolve(result && "result" in result ? result.result : undefined); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  function mine() {
    return tx("readonly", function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).filter(function (item) { return item.user === user; });
    });
  }
  function put(item) { return tx("readwrite", function (s) { s.put(item); }); }
  function remove(ids) { return tx("readwrite", function (s) { ids.forEach(function (id) { s.delete(id); }); }); }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ------------------------------------------------------------------ the counter
  function say(template, n) { return template.replace("{n}", String(n)); }
  function show(note) {
    return mine().then(function (items) {
      var waiting = items.filter(function (i) { return !i.rejected; }).length;
      var rejected = items.length - waiting;
      var parts = [];
      if (waiting) parts.push(say(box.dataset.waiting, waiting));
      if (rejected) parts.push(say(box.dataset.rejected, rejected));
      if (note) parts.push(note);
      box.querySelector("[data-testid=outbox-text]").textContent = parts.join(" · ");
      box.hidden = !parts.length;
      box.classList.toggle("outbox-error", rejected > 0);
      listRefused(items.filter(function (i) { return i.rejected; }));
      return waiting;
    });
  }

  // A row the server refused stays on the phone (it holds what was typed, perhaps a visitor's
  // name and phone) until its user has seen why and removes it: listed here, one button clears.
  function listRefused(items) {
    var details = document.getElementById("outbox-refused");
    if (!details) return;
    var list = details.querySelector("ul");
    list.textContent = "";
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = (item.shown || item.kind) + " — " + item.rejected;
      list.appendChild(li);
    });
    details.hidden = !items.length;
  }

  var refusedBox = document.getElementById("outbox-refused");
  if (refusedBox) refusedBox.addEventListener("click", function (event) {
    if (!event.target.closest("[data-outbox-clear]")) return;
    if (!window.confirm(box.dataset.clearConfirm)) return;
    mine().then(function (items) {
      return remove(items.filter(function (i) { return i.rejected; }).map(function (i) { return i.client_id; }));
    }).then(function () { show(); });
  });

  // ------------------------------------------------------------------ taking rows offline
  var TEMPERATURE = /^\d{2}(\.\d{1,2})?$/;

  function reading(form) {
    var input = form.querySelector("input[name=value]");
    var value = input.value.trim();
    if (!TEMPERATURE.test(value)) {
      input.setCustomValidity(box.dataset.badTemperature);
      input.reportValidity();
      input.addEventListener("input", function () { input.setCustomValidity(""); }, { once: true });
      return null;
    }
    return { kind: "reading", shown: value, row: { person_id: Number(form.dataset.person), value: Number(value) } };
  }

  function passage(form, submitter) {
    var token = form.querySelector("[name=token]").value.trim();
    var number = form.querySelector("[name=number]").value.trim();
    var temperature = form.querySelector("[name=temperature]").value.trim();
    var answer = document.getElementById("answer");
    if (!token && number.indexOf("-") < 0) {
      // The last digits are looked up by the server: offline the gate needs the whole number.
      verdict(answer, form.dataset.fullNumber, "error");
      return null;
    }
    var row = { token: token, number: number, direction: submitter ? submitter.value : "in" };
    if (temperature) row.temperature = temperature;
    return { kind: "passage", checkpoint: Number(form.dataset.checkpoint), row: row };
  }

  function visitor(form, submitter) {
    var row = { direction: "in" };
    ["name", "phone", "id_number", "visiting", "reason", "direction", "temperature"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      if (input && input.value.trim()) row[name] = input.value.trim();
    });
    return { kind: "visitor", checkpoint: Number(form.dataset.checkpoint), shown: row.name, row: row };
  }

  function alertAction(form, submitter) {
    var action = (submitter && submitter.dataset.action) || "resolve";
    var note = form.querySelector("input[name=resolution]");
    var resolution = note ? note.value.trim() : "";
    if (action === "resolve" && !resolution) {
      note.setCustomValidity(box.dataset.noteRequired);
      note.reportValidity();
      note.addEventListener("input", function () { note.setCustomValidity(""); }, { once: true });
      return null;
    }
    return { kind: "alert", row: { alert_id: Number(form.dataset.alert), action: action, resolution: resolution } };
  }

  // An alert with a move waiting: the row says so, and its form offers only what is left to do.
  function markAlert(item) {
    var form = document.querySelector("form[data-offline=alert][data-alert='" + item.row.alert_id + "']");
    if (!form) return;
    var text = item.row.action === "resolve" ? box.dataset.alertResolved : box.dataset.alertAcknowledged;
    var mark = form.parentNode.querySelector("[data-testid=queued-alert]");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "slot slot-queued";
      mark.dataset.testid = "queued-alert";
      form.parentNode.insertBefore(mark, form);
    }
    if (item.row.action === "resolve" || !mark.textContent) mark.textContent = text + " · " + box.dataset.queued;
    if (item.row.action === "resolve") form.hidden = true;
    var ack = form.querySelector("[data-action=acknowledge]");
    if (ack) ack.remove();
  }

  function verdict(target, text, kind, detail) {
    var v = document.createElement("div");
    v.className = "verdict verdict-" + kind;
    v.setAttribute("role", "alert");
    v.dataset.testid = "verdict";
    v.appendChild(document.createTextNode(text));
    if (detail) {
      var small = document.createElement("small");
      small.textContent = detail;
      v.appendChild(document.createElement("br"));
      v.appendChild(small);
    }
    target.replaceChildren(v);
  }

  // Keeps the row taken with the form (at `takenAt`) for later, and says so on the page.
  var TAKERS = { reading: reading, passage: passage, visitor: visitor, alert: alertAction };

  function take(form, kind, submitter, takenAt) {
    if (!TAKERS[kind]) return;
    var item = TAKERS[kind](form, submitter);
    if (!item) return;
    item.client_id = uuid();
    item.user = user;
    item.row.client_id = item.client_id;
    item.row[kind === "reading" ? "measured_at" : "at"] = takenAt;
    put(item).then(function () {
      show();
      if (kind === "reading") {
        // The row shows what it took, marked as not sent yet.
        var mark = document.createElement("span");
        mark.className = "slot slot-queued";
        mark.dataset.testid = "queued-reading";
        mark.textContent = item.shown + " · " + box.dataset.queued;
        form.parentNode.insertBefore(mark, form);
        form.querySelector("input[name=value]").value = "";
      } else if (kind === "visitor") {
        verdict(document.getElementById("visitor-answer"), form.dataset.offlineText, "offline", item.shown);
        form.reset();
      } else if (kind === "alert") {
        markAlert(item);
        var note = form.querySelector("input[name=resolution]");
        if (note) note.value = "";
      } else {
        var shown = item.row.number || "✓";
        verdict(document.getElementById("answer"), form.dataset.offlineText, "offline", shown);
        ["token", "number", "temperature"].forEach(function (name) { form.querySelector("[name=" + name + "]").value = ""; });
      }
    });
  }

  // Online as far as the browser knows, but in a stairwell the request may still not get through:
  // a temperature form is sent by fetch; the server's redirect (stored, its message waiting in the
  // session) is followed; any other answer is the server's to show (the form sent again the usual
  // way: nothing was stored); no answer within 15 s keeps the reading for later, like offline.
  // (A reading whose answer alone was lost is then sent twice: two readings of the same moment.)
  function sendOrKeep(form) {
    var takenAt = new Date().toISOString();
    var button = form.querySelector("button");
    button.disabled = true;
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, 15000);
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin", redirect: "manual", signal: controller.signal,
    }).then(function (response) {
      clearTimeout(timer);
      if (response.type === "opaqueredirect") {
        var next = form.querySelector("input[name=next]");
        window.location.assign(next ? next.value : window.location.pathname);
        return;
      }
      button.disabled = false;
      HTMLFormElement.prototype.submit.call(form);
    }, function () {
      clearTimeout(timer);
      button.disabled = false;
      take(form, "reading", null, takenAt);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var kind = form.dataset && form.dataset.offline;
    if (!kind || !user) return;
    if (!navigator.onLine) {
      // Offline: neither the form's own POST nor htmx's request goes (this listener runs first).
      event.preventDefault();
      event.stopImmediatePropagation();
      take(form, kind, event.submitter, new Date().toISOString());
    } else if (kind === "reading" && window.fetch && window.AbortController) {
      event.preventDefault();
      sendOrKeep(form);
    }
  }, true);

  // ------------------------------------------------------------------ sending
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  // One batch: stored rows leave the queue; rows the server refuses (422, each listed by index)
  // stay, marked, so that the rest can go; anything else (401 after a long time offline, 5xx)
  // leaves the queue as it is, for the next try.
  var loggedOut = false;
  function send(url, items, body) {
    return post(url, body).then(function (answer) {
      // The session ended while offline (30 idle minutes) or the page's token is old: the rows
      // wait for the next login, on this phone.
      if (answer.status === 401 || answer.status === 403) loggedOut = true;
      if (answer.status === 200) {
        return remove(items.map(function (i) { return i.client_id; })).then(function () { return answer.data; });
      }
      if (answer.status === 422 && answer.data.rows && answer.data.rows.length) {
        var marks = answer.data.rows.map(function (r) {
          var item = items[r.index];
          if (!item) return Promise.resolve();
          item.rejected = r.message || answer.data.message || "";
          return put(item);
        });
        return Promise.all(marks).then(function () { return null; });
      }
      return null;
    });
  }

  var sending = false;
  function flush() {
    if (sending || !navigator.onLine || !user) return Promise.resolve();
    sending = true;
    loggedOut = false;
    return mine().then(function (items) {
      items = items.filter(function (i) { return !i.rejected; });
      var readings = items.filter(function (i) { return i.kind === "reading"; });
      var byCheckpoint = {};
      items.filter(function (i) { return i.kind === "passage"; }).forEach(function (i) {
        (byCheckpoint[i.checkpoint] = byCheckpoint[i.checkpoint] || []).push(i);
      });
      var jobs = [];
      var sent = { readings: 0, passages: 0, refused: 0, alerts: 0, already: 0 };
      if (readings.length) {
        jobs.push(send(box.dataset.readingsUrl, readings, { source: "liaison", readings: readings.map(function (i) { return i.row; }) })
          .then(function (out) { if (out) sent.readings += readings.length; }));
      }
      Object.keys(byCheckpoint).forEach(function (checkpoint) {
        var rows = byCheckpoint[checkpoint];
        var body = { checkpoint_id: Number(checkpoint), passages: rows.map(function (i) { return i.row; }) };
        jobs.push(send(box.dataset.passagesUrl, rows, body).then(function (out) {
          if (out) { sent.passages += rows.length; sent.refused += out.refused || 0; }
        }));
      });
      var visitorsAt = {};
      items.filter(function (i) { return i.kind === "visitor"; }).forEach(function (i) {
        (visitorsAt[i.checkpoint] = visitorsAt[i.checkpoint] || []).push(i);
      });
      Object.keys(visitorsAt).forEach(function (checkpoint) {
        var rows = visitorsAt[checkpoint];
        var body = { checkpoint_id: Number(checkpoint), visitors: rows.map(function (i) { return i.row; }) };
        jobs.push(send(box.dataset.visitorsUrl, rows, body).then(function (out) {
          if (out) { sent.passages += rows.length; sent.refused += out.refused || 0; }
        }));
      });
      var moves = items.filter(function (i) { return i.kind === "alert"; });
      if (moves.length) {
        jobs.push(send(box.dataset.alertsUrl, moves, { actions: moves.map(function (i) { return i.row; }) })
          .then(function (out) {
            if (!out) return;
            sent.alerts += moves.length;
            sent.already += (out.results || []).filter(function (r) { return r.outcome === "already"; }).length;
          }));
      }
      return Promise.all(jobs).then(function () { return sent; });
    }).then(function (sent) {
      sending = false;
      var done = sent.readings + sent.passages + sent.alerts;
      var notes = [];
      if (done) notes.push(say(box.dataset.uploaded, done));
      if (sent.refused) notes.push(say(box.dataset.refused, sent.refused));
      if (sent.already) notes.push(say(box.dataset.already, sent.already));
      if (loggedOut) notes.push(box.dataset.login);
      return show(notes.join(" · ")).then(function (waiting) {
        if (sent.passages && window.htmx) window.htmx.trigger(document.body, "passage-recorded");
        var reload = (sent.readings && document.getElementById("slots")) ||
          (sent.alerts && document.querySelector("form[data-offline=alert]"));
        if (reload && !waiting && !typing()) window.location.reload();
      });
    }, function () { sending = false; show(); });
  }

  function typing() {
    return Array.prototype.some.call(document.querySelectorAll("form[data-offline] input[type=text]"), function (i) {
      return i.value.trim() !== "";
    });
  }

  window.addEventListener("online", function () { flush(); });
  window.addEventListener("offline", function () { show(); });
  setInterval(flush, 20000);
  mine().then(function (items) {
    items.filter(function (i) { return i.kind === "alert" && !i.rejected; }).forEach(markAlert);
  }).catch(function () {});
  show().then(flush);
})();
