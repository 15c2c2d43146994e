// Served by the Insights Service at /docs; everything it loads comes from this server.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The public validator would be a request to the internet.
    validatorUrl: null,
  });
};
