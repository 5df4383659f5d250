"""The shared mechanisms every feature plugs into: events, outbox and publisher, scheduler jobs, signed outbound HTTP, the Slack-call wrapper, refusals, the clock."""
