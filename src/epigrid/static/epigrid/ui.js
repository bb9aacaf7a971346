// Small page behaviours every page may use, without inline scripts (the CSP allows none):
// [data-print] buttons print the page.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) {
    event.preventDefault();
    window.print();
  }
});
