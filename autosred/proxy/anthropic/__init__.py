"""proxy/anthropic."""
