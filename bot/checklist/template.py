"""Markdown checklist template -> pydantic models (phases, sections, groups, items, stages, contacts, sign-off roles).

The format is the one of the bundled default (``bot/checklist/templates/default.md``, the seed checklist):

- ``# Title``
- ``## Phase name (T-7 days)``: a phase. A ``##`` heading with a timing in parentheses is a checklist phase;
  one without a timing whose sections hold checkbox lists (``## Rollback Criteria``) is a *criteria* phase:
  reference conditions, not work to tick off, so it never counts toward progress.
- ``### Section``: a section of a phase (a trailing `` ✓`` is decoration and dropped).
- ``- [ ] **Group**`` followed by indented ``- [ ] item`` lines: a group of items.
- ``- [ ] item`` directly under a section: a flat item list (one untitled group).
- ``- [ ] item {#killswitch.armed}``: an item with a key (``ItemKey``), so the bot ticks it when it can
  prove it; the marker is not part of the item's text.
- ``1. **Stage name (1 hour)**`` followed by indented ``- [ ] item`` lines: a numbered go-live stage with an
  optional duration; an item may carry its own duration, e.g. ``- [ ] 25% traffic (30 min)``.
- ``## Emergency Contacts`` with ``### Internal Team`` / ``### External Vendors`` and ``- **Role**: value`` lines.
- ``## Sign-offs`` with a Markdown table whose first column is the role.
- a closing ``---`` followed by the document footer (version, review date), which is ignored; a
  ``---`` with headings after it is only a separator.

``bot.checklist.parser.parse_template`` collects every problem as (line, message) and raises them together in a
``TemplateParseError``; ``validate_template_file`` turns that into the ``launchbot checklist validate``
report.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_TEMPLATE_PATH = Path(__file__).parent / "templates" / "default.md"


class ItemKey(StrEnum):
    """The documented keys of items the bot can prove and tick itself (``bot.checklist.proofs``).

    A custom template marks such an item with a trailing ``{#key}`` (``- [ ] Kill switch armed
    {#killswitch.armed}``), which is not shown; the bundled template, byte for byte the seed
    checklist, gets them from ``DEFAULT_ITEM_KEYS``."""

    KILLSWITCH_TESTED = "killswitch.tested"  # a confirmed `/launch killswitch test` (dry run)
    KILLSWITCH_ARMED = "killswitch.armed"  # `/launch killswitch arm`
    AUDIT_VERIFIED = "audit.verified"  # `/launch verify`: the hash chain and every row check out
    ESCALATION_TESTED = "escalation.tested"  # `/launch escalate test`: PagerDuty accepted the page


# The bundled template's keys, by the seed's item text (the file itself cannot carry markers).
DEFAULT_ITEM_KEYS: dict[str, ItemKey] = {
    "Kill switch tested": ItemKey.KILLSWITCH_TESTED,
    "Kill switch armed": ItemKey.KILLSWITCH_ARMED,
    "Audit trail complete": ItemKey.AUDIT_VERIFIED,
    "Escalation working": ItemKey.ESCALATION_TESTED,
}


class TemplateItem(BaseModel):
    text: str
    duration_minutes: int | None = None
    line: int = Field(description="1-based line number in the source file")
    key: str | None = Field(default=None, description="an ItemKey: the bot may tick it on a proof")


class TemplateGroup(BaseModel):
    """A checkbox group. ``title`` is None for a flat item list; ``stage`` is the go-live stage number."""

    title: str | None
    stage: int | None = None
    duration_minutes: int | None = None
    items: list[TemplateItem]
    line: int


class TemplateSection(BaseModel):
    title: str
    groups: list[TemplateGroup]
    line: int
    # Set only by the launch calendar (``bot.checklist.schedule.with_days``): a section of its own
    # day after launch day (one day's daily checks, the weekly review), posted on that day.
    day: int | None = None


class TemplatePhase(BaseModel):
    title: str
    timing: str | None = Field(
        default=None, description='e.g. "T-7 days"; None for criteria phases'
    )
    kind: str = Field(default="checklist", description='"checklist" or "criteria"')
    sections: list[TemplateSection]
    line: int


class TemplateContact(BaseModel):
    """One emergency contact line. ``value`` keeps the template text, placeholders like ``[Phone]`` included."""

    category: str = Field(description='the ### heading, e.g. "Internal Team"')
    role: str
    value: str
    line: int


class TemplateSignOffRole(BaseModel):
    role_id: str = Field(description='snake_case id derived from the title, e.g. "head_of_trading"')
    title: str
    line: int


class ChecklistTemplate(BaseModel):
    title: str
    phases: list[TemplatePhase]
    contacts: list[TemplateContact] = []
    sign_off_roles: list[TemplateSignOffRole] = []

    def counts(self) -> tuple[int, int, int]:
        """(phases, sections, items) over the checklist phases and criteria phases alike."""
        sections = [s for p in self.phases for s in p.sections]
        items = [i for s in sections for g in s.groups for i in g.items]
        return len(self.phases), len(sections), len(items)


class TemplateParseError(Exception):
    """Raised with every problem found; each is (line number, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"line {n}: {m}" for n, m in errors))
