// Kronvex dashboard behaviour. No inline scripts: everything hangs off data attributes.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // <button data-copy-target="id">: copies the target's text.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    copyText(target.textContent.trim()).then(function () {
      var label = button.textContent;
      button.classList.add("copied");
      button.textContent = "Copied";
      setTimeout(function () { button.classList.remove("copied"); button.textContent = label; }, 2000);
    });
  });

  // <input type=checkbox data-select-all="name">: ticks every checkbox of that name in its form.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    var form = box.closest("form") || document;
    var name = box.getAttribute("data-select-all");
    form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });

  // The playground: sends the JSON body to the API view and shows request and response.
  function setupPlayground(root) {
    var form = root.querySelector("#playground-form");
    var operation = form.querySelector("#pg-operation");
    var body = form.querySelector("#pg-body");
    var examples = JSON.parse(document.getElementById("pg-examples").textContent);
    var requestLine = root.querySelector("#pg-request");
    var curl = root.querySelector("#pg-curl");
    var status = root.querySelector("#pg-status");
    var output = root.querySelector("#pg-response");
    var base = root.getAttribute("data-base");
    var edited = false;

    function apiUrl() { return base + "/" + operation.value; }

    function describe() {
      requestLine.textContent = "POST " + apiUrl();
      var compact;
      try { compact = JSON.stringify(JSON.parse(body.value)); } catch (e) { compact = body.value; }
      curl.textContent = "curl -X POST " + apiUrl() + " \\\n  -H \"X-API-Key: $KRONVEX_API_KEY\" \\\n" +
        "  -H \"Content-Type: application/json\" \\\n  -d '" + compact.replace(/'/g, "'\\''") + "'";
    }

    function loadExample() {
      body.value = JSON.stringify(examples[operation.value], null, 2);
      edited = false;
      describe();
    }

    operation.addEventListener("change", function () { if (!edited) loadExample(); else describe(); });
    body.addEventListener("input", function () { edited = true; describe(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var url = root.getAttribute("data-call-url").replace("OPERATION", operation.value);
      var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
      status.textContent = "sending…";
      status.className = "badge pending";
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token },
        body: body.value,
      }).then(function (response) {
        return response.text().then(function (text) {
          status.textContent = response.status + " " + response.statusText;
          status.className = "badge " + (response.ok ? "ready" : "failed");
          try { output.textContent = JSON.stringify(JSON.parse(text), null, 2); }
          catch (e) { output.textContent = text; }
        });
      }).catch(function (error) {
        status.textContent = "network error";
        status.className = "badge failed";
        output.textContent = String(error);
      });
    });
    loadExample();
  }

  onReady(function () {
    document.querySelectorAll("[data-playground]").forEach(setupPlayground);
  });
})();
