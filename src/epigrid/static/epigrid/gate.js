// Scan a pass's QR code with the phone camera: the browser's BarcodeDetector where there is one,
// else the vendored jsQR. The token goes into the form; the guard then taps In or Out.
// A refusal (404 not a pass of this checkpoint, 429 too many typed misses…) is an answer too:
// show it in the answer box (htmx 2 does not swap 4xx by default).
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (event.detail.target && event.detail.target.id === "answer" && status >= 400 && status < 500) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

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
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "scan-form") {
      token.value = ""; number.value = ""; document.getElementById("temperature").value = "";
    }
  });
})();
