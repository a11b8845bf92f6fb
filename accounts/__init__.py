"""Accounts: who is acting (the Actor every service call takes), sign-in, page access, user commands."""
