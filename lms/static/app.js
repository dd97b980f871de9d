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
