"""Launch Control: a Slack chat-ops bot that runs a production launch checklist."""
