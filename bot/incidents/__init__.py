"""Incidents: escalations paged through PagerDuty (and its test page), and the kill switch."""
