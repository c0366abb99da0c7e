"""proxy/responses."""
