// Starts Swagger UI on /api/docs. A file of its own, not an inline script, so the page keeps a CSP without
// 'unsafe-inline'; the page names the OpenAPI document in `data-spec-url`.
"use strict";

(function () {
  var root = document.getElementById("ui");
  if (!root || typeof SwaggerUIBundle !== "function") {
    return;
  }
  SwaggerUIBundle({
    dom_id: "#ui",
    url: root.dataset.specUrl,
    deepLinking: true,
    // The default would show a badge from validator.swagger.io: a request to a third party on every visit.
    validatorUrl: null,
  });
})();
