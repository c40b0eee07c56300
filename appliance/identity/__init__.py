"""Household accounts, device-flow sign-in (Google, Microsoft, GitHub) and sessions."""
