// Starts Swagger UI on /api/docs/ (templates/drf_spectacular/swagger_ui.html): a file rather
// than drf-spectacular's inline script, which the Content-Security-Policy would block.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var settings = JSON.parse(root.getAttribute("data-settings") || "{}");
  window.ui = SwaggerUIBundle(Object.assign({
    url: root.getAttribute("data-schema-url"),
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  }, settings));
})();
