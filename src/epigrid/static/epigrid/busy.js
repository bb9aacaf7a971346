// A form marked data-busy-form disables its submit buttons while it is being sent (an upload of a
// large ledger takes a while before the job page opens), so it cannot be sent twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-busy-form]")) return;
  for (const button of form.querySelectorAll("button[type=submit], input[type=submit]")) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
  }
});
