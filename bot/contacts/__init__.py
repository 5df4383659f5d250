"""Emergency contacts: the config's and the template's contact rows, and who to call when things fail."""
