"""Accounts: users, sign-up, login, token refresh and revocation, password change and reset,
email verification."""
