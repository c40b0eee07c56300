"""Config, supervisor, event bus, store, crypto and logging: what every service stands on."""
