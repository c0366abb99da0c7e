"""The API surfaces (Anthropic, OpenAI, Responses) and what they share: body parsing, the
upstream client, per-request accounting. Surfaces reach model servers only through the gate."""
