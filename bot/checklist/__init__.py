"""The launch checklist: the Markdown template, the launch's own copy, ticking items, phases, waivers and the items the bot proves."""
