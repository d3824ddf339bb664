"""The REST and websocket API (FastAPI), with OAuth2 tokens."""
