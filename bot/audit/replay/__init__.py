"""Replay a launch's event log into the rows it implies, and compare them with the database; DB only.

The hash chain (``chain.check_links``) proves the log was not edited. The card, the report and every
rule read the state tables, though, and those carry no hash: an ``UPDATE sign_off SET comment = …``
shows nowhere in the chain. So ``verify`` replays the log (pure, ``driver.replay``) into what each row
must hold, field by field, and ``driver.compare`` names every field that differs: table, row id,
field, what the log says and what the row has.

A field the log cannot vouch for is never passed as checked: events written before a field was added
to their detail (``LOG_VERSION``) leave it *unchecked*, listed with the reason, and the report takes
such a value from the row and says so. Covered: launch (name, team, channel, template, launch day,
started and closed by/at, close outcome and note, current phase, the template's contacts and sign-off
roles), the checklist's structure as ``launch_started`` recorded it (every phase's title, timing,
kind and order; every section's title, day, phase and order, a day section retitled by a moved
launch day; every group's title, stage and soak, section and order; every item's text, key,
duration, group and order; a row missing or never created), phases (posted/completed at), items
(checked, by id and name, at, the proof that ticked it; waiver kind, by, at, reason), sign-offs (role,
required, approver id and name, at, comment, recorded progress with its chain head, event seq,
revocation by/at/reason, slot held), GO declarations and withdrawals (against the approvals standing
then, and their outbox message), escalations (channel, severity, summary, reporter, keys, status,
level, message, page and resolve status, tries, error, paged at, acknowledged and resolved by/at),
kill-switch requests (channel, request, requester, reason, dry run, status, tries, HTTP status, error,
response, duration, completed at), the armed state, the go-live row (step, weight, step
started at, held seconds, on hold since/why/by whom, completed at), every traffic request (action,
steps, weights, reason, forced, requester, requested at, status, tries, HTTP status, error, completed
at), every escalation level that came due (due, claimed and posted at, message, tries, error), every
metric alert (source, rule or trigger, query, threshold, breach start, opened at, status, re-alerted
and recovered at, acknowledged by/at, reported by, what its buttons did, page key and status; its
value, worst and last evaluation once it stopped firing) and every rule's state (action, status,
breach start, hold-down start, open alert). Not covered (bookkeeping the log does not describe):
render versions, timers (``next_level_at``), permalinks, an item's ``managed_by`` (set from the
go-live steps after ``launch_started``), a rule's last reading and a firing alert's (rewritten at
every evaluation).

The modules: ``expected`` (what a row must hold), ``findings`` (what differs, and how a row is
compared), ``state`` (the rows replayed so far), one module per table family with its replay and its
comparison (``checklist``: the launch, phases and items; ``structure``: the checklist's rows as
created and the current phase; ``sign_offs``: approvals and GO;
``incidents``: escalations, their level pings and the kill switch; ``golive``: the go-live row and
traffic requests; ``watch``: metric alerts and rule states),
and ``driver``, which runs each event through them and compares every table.
"""
