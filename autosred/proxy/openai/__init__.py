"""proxy/openai."""
