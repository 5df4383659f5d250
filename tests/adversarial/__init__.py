"""Adversarial regression battery: requests from outside the bot that must never get a 5xx."""
