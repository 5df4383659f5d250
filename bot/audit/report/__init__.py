"""Renders a launch's record (``record.build.build_record``) as Markdown, CSV or JSON; the JSON is the versioned schema.

JSON is the record itself, ``"schema": "launchbot.report/1"`` (documented in the README): a reader
checks that field and ignores keys it does not know; a change that removes or redefines a key bumps
the number. Markdown is for people, CSV for spreadsheets (one row per fact, a ``record`` column says
which kind). User text never becomes markup: pipes and newlines are neutralised in Markdown tables,
and CSV cells that a spreadsheet would run as a formula are prefixed with ``'`` (OWASP CSV injection).

The modules: ``export`` (the formats, a report's file name, ``launchbot export``), ``csv_rows``,
``markdown`` with its ``markdown_golive`` section and its ``timeline`` (incidents and stage changes
in words), and ``markdown_text`` (user text, people and times as Markdown shows them).
"""
