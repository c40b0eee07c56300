"""The setup page: aiohttp app, routes and security middleware (templates: top-level web/)."""
