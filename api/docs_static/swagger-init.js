// Starts Swagger UI on /docs. A file, not an inline <script>, so the page's
// Content-Security-Policy can allow scripts from the vault itself and nothing else.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Never send the description to the public validator service.
    validatorUrl: null,
    // A token typed into "Authorize" lives only as long as the tab, never in localStorage.
    persistAuthorization: false,
  });
})();
