"""The HTTP layer: the Starlette app, authentication, validation, the routes and the board."""
