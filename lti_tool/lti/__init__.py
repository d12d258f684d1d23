"""LTI 1.3: OIDC login, launch validation, deep linking, dynamic registration, JWKS, session tokens."""
