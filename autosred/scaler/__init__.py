"""scaler."""
