"""Spotify linking and client, track features, mood-to-music selection and the player."""
