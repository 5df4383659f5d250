"""The launch's record: everything the report shows, as JSON-ready data (schema ``launchbot.report/1``).

``build`` assembles it (the launch, the whole event log and the chain's verification) from one
section per feature: ``checklist`` (phases and items with their history), ``sign_offs`` (approvals
and GO) and ``golive`` (the go-live sequence); ``values`` holds the shapes they share (times, people).
"""
