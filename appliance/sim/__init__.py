"""Loopback stand-ins speaking the providers' real wire formats (identity, Spotify, features)."""
