"""Request and response bodies, one module per resource. Table models never leave the service
layer: these are what the API promises, and the OpenAPI document is generated from them."""
