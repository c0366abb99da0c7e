"""dropbox."""
