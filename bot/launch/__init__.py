"""The launch as a whole: its state tree, the card and /launch status, and closing it."""
