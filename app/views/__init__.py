"""The main window's views; each gets its services in its constructor."""
