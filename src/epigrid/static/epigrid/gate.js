// Every answer at the gate shows in its answer box, in the verdict's big format, and only the
// answer to the last submit: the old verdict goes as soon as a new request starts (a green 放行
// left on screen after a failed request would let the wrong person through).
// A refusal (400 bad temperature, 404 not a pass of this checkpoint, 409 several matches, 429 too
// many typed misses…) is rendered by the server: swap it (htmx 2 does not swap 4xx by default).
// A server failure (5xx), no network or no answer within the timeout: say so in red, here.
(function () {
  function box(event) {
    var target = event.detail && event.detail.target;
    return target && target.classList && target.classList.contains("answer") ? target : null;
  }

  function show(target, text, kind) {
    var verdict = document.createElement("div");
    verdict.className = "verdict verdict-" + kind;
    verdict.setAttribute("role", "alert");
    verdict.dataset.testid = "verdict";
    if (kind === "error") {
      var title = document.createElement("b");
      title.textContent = target.dataset.title;
      verdict.appendChild(title);
    }
    verdict.appendChild(document.createTextNode(text));
    target.replaceChildren(verdict);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = box(event);
    if (target) show(target, target.dataset.pending, "pending");
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = box(event);
    var status = event.detail.xhr.status;
    if (!target || status < 400) return;
    if (status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else {
      event.detail.shouldSwap = false;
      show(target, target.dataset.server, "error");
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var target = box(event);
    if (target) show(target, target.dataset.network, "error");
  });
  document.addEventListener("htmx:timeout", function (event) {
    var target = box(event);
    if (target) show(target, target.dataset.network, "error");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    // A request that got no answer at all (aborted): never leave "checking…" behind.
    var target = box(event);
    if (target && !event.detail.xhr.status && target.querySelector(".verdict-pending")) {
      show(target, target.dataset.network, "error");
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    // Cleared for the next person only once an answer was recorded: after a refusal of the
    // input (a mistyped temperature, several matches) the guard corrects it, not retypes it all.
    // (On the swap, not after the request: a tapped match is gone from the page by then.)
    var status = event.detail.xhr.status;
    var target = box(event);
    if (!target || status < 200 || status >= 300) return;
    if (target.id === "answer") {
      ["token", "number", "temperature"].forEach(function (id) { document.getElementById(id).value = ""; });
      document.getElementById("number").placeholder = "0001";
    } else if (target.id === "visitor-answer") {
      document.getElementById("visitor-form").reset();
    }
  });
})();

(function () {
  var button = document.getElementById("start-camera");
  var video = document.getElementById("camera");
  var token = document.getElementById("token");
  var number = document.getElementById("number");
  if (!button || !video || !navigator.mediaDevices) return;
  var canvas = document.createElement("canvas");
  var detector = ("BarcodeDetector" in window) ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;

  function found(text) {
    token.value = text;
    number.value = "";
    number.placeholder = "✓";
    video.srcObject.getTracks().forEach(function (t) { t.stop(); });
    video.classList.remove("live");
    document.getElementById("temperature").focus();
  }

  function tick() {
    if (!video.srcObject || !video.classList.contains("live")) return;
    if (detector) {
      detector.detect(video).then(function (codes) {
        if (codes.length) found(codes[0].rawValue); else requestAnimationFrame(tick);
      }).catch(function () { requestAnimationFrame(tick); });
      return;
    }
    if (video.readyState === video.HAVE_ENOUGH_DATA && window.jsQR) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height);
      if (code) { found(code.data); return; }
    }
    requestAnimationFrame(tick);
  }

  button.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.classList.add("live");
      video.play();
      requestAnimationFrame(tick);
    });
  });
  number.addEventListener("input", function () { token.value = ""; });
})();
