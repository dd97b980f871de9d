// htmx error responses (403, 404, 500, network) are not swapped: say what happened instead.
document.addEventListener("htmx:responseError", function (event) {
  var status = event.detail.xhr.status;
  var text = {403: "You are not allowed to do that.", 404: "That item no longer exists.",
              413: "That upload is too large."}[status] || "Something went wrong (" + status + "). Please try again.";
  showFlash(text);
});
document.addEventListener("htmx:sendError", function () {
  showFlash("The server could not be reached. Check your connection and try again.");
});
function showFlash(text) {
  var region = document.getElementById("flashes");
  if (!region) return;
  var p = document.createElement("p");
  p.className = "flash flash-error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  region.replaceChildren(p);
}

// "Copy" buttons: copy the value of the element named in data-copy.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var input = document.querySelector(button.getAttribute("data-copy"));
  if (!input) return;
  input.select();
  var label = button.getAttribute("data-label") || button.textContent;
  button.setAttribute("data-label", label);
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 2000);
  };
  if (navigator.clipboard) { navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); }); }
  else { document.execCommand("copy"); done(); }
});

// While htmx waits for the server, the button that asked for it shows Pico's spinner and says
// it is busy (aria-busy), and cannot be clicked twice.
var busyButtons = new WeakMap();
document.addEventListener("htmx:beforeRequest", function (event) {
  var elt = event.detail.elt;
  var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
  var button = elt.matches("form") ? (trigger && trigger.submitter) || elt.querySelector("button[type=submit], button:not([type])")
                                   : elt.closest("button, a[role=button]");
  if (!button) return;
  button.setAttribute("aria-busy", "true");
  if (button.matches("button")) button.disabled = true;
  busyButtons.set(elt, button);
});
document.addEventListener("htmx:afterRequest", function (event) {
  var button = busyButtons.get(event.detail.elt);
  if (!button) return;
  button.removeAttribute("aria-busy");
  if (button.matches("button")) button.disabled = false;
  busyButtons.delete(event.detail.elt);
});

// Forms (and submit buttons) with data-confirm ask first; the page's CSP allows no inline
// handlers. Captured before htmx sees the submit, so a "Cancel" sends nothing.
document.addEventListener("submit", function (event) {
  var question = (event.submitter && event.submitter.getAttribute("data-confirm")) ||
                 event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// An htmx form with data-remove-after="li" removes that ancestor once its request succeeded
// (a candidate added to a group leaves the list of candidates).
document.addEventListener("htmx:afterRequest", function (event) {
  var selector = event.detail.elt.getAttribute && event.detail.elt.getAttribute("data-remove-after");
  if (selector && event.detail.successful) {
    var gone = event.detail.elt.closest(selector);
    if (gone) gone.remove();
  }
});

// Read-only link fields select their whole text when focused, ready to copy.
document.addEventListener("focusin", function (event) {
  if (event.target.matches && event.target.matches("input[data-select-on-focus]")) event.target.select();
});
