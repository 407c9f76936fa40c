"""OpenID Connect: access tokens from an external identity provider become the principal."""
