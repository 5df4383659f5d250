"""Markdown checklist template -> pydantic models (phases, sections, groups, items, stages, contacts, sign-off roles).

The format is the one of the bundled default (``bot/templates/default.md``, the seed checklist):

- ``# Title``
- ``## Phase name (T-7 days)``: a phase. A ``##`` heading with a timing in parentheses is a checklist phase;
  one without a timing whose sections hold checkbox lists (``## Rollback Criteria``) is a *criteria* phase:
  reference conditions, not work to tick off, so it never counts toward progress.
- ``### Section``: a section of a phase (a trailing `` ✓`` is decoration and dropped).
- ``- [ ] **Group**`` followed by indented ``- [ ] item`` lines: a group of items.
- ``- [ ] item`` directly under a section: a flat item list (one untitled group).
- ``1. **Stage name (1 hour)**`` followed by indented ``- [ ] item`` lines: a numbered go-live stage with an
  optional duration; an item may carry its own duration, e.g. ``- [ ] 25% traffic (30 min)``.
- ``## Emergency Contacts`` with ``### Internal Team`` / ``### External Vendors`` and ``- **Role**: value`` lines.
- ``## Sign-offs`` with a Markdown table whose first column is the role.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_TEMPLATE_PATH = Path(__file__).parent / "templates" / "default.md"


class TemplateItem(BaseModel):
    text: str
    duration_minutes: int | None = None
    line: int = Field(description="1-based line number in the source file")


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


# ---------------------------------------------------------------------------------------------------
# Parser: a line-by-line state machine. Each line kind has one small function; errors are collected
# (not raised at the first one) so `launchbot checklist validate` can list them all.

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_CHECKBOX = re.compile(r"^(\s*)[-*]\s+\[( |x|X)\]\s*(.*?)\s*$")
_STAGE = re.compile(r"^(\s*)(\d+)\.\s+(.*?)\s*$")
_BULLET = re.compile(r"^(\s*)[-*]\s+(.*?)\s*$")
_BOLD = re.compile(r"^\*\*(.+?)\*\*(.*)$")
_CONTACT = re.compile(r"^\*\*(.+?)\*\*\s*:\s*(.*)$")
_TIMING = re.compile(r"^(.*?)\s*\(\s*(T[-+−]?\s*\d*[^)]*)\)\s*$")
_DURATION = re.compile(
    r"^(.*?)\s*\(\s*(\d+(?:\.\d+)?)\s*(min|mins|minute|minutes|m|h|hr|hrs|hour|hours|day|days|d)\s*\)\s*$",
    re.IGNORECASE,
)
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}")
_MINUTES = {"min": 1, "mins": 1, "minute": 1, "minutes": 1, "m": 1, "h": 60, "hr": 60, "hrs": 60,
            "hour": 60, "hours": 60, "day": 1440, "days": 1440, "d": 1440}  # fmt: skip

ITEM_TEXT_MAX = 75
TITLE_MAX = 150


def split_duration(text: str) -> tuple[str, int | None]:
    """``"25% traffic (30 min)"`` -> ``("25% traffic", 30)``; other parentheses are kept."""
    match = _DURATION.match(text)
    if not match:
        return text, None
    minutes = float(match.group(2)) * _MINUTES[match.group(3).lower()]
    return match.group(1).strip(), int(minutes)


def role_id(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def _strip_decoration(title: str) -> str:
    return title.rstrip("✓✔ ").strip()


class _Parser:
    def __init__(self) -> None:
        self.errors: list[tuple[int, str]] = []
        self.title: str | None = None
        self.phases: list[TemplatePhase] = []
        self.contacts: list[TemplateContact] = []
        self.roles: list[TemplateSignOffRole] = []
        self.mode = "none"  # none | phase | contacts | signoffs | footer
        self.phase: TemplatePhase | None = None
        self.section: TemplateSection | None = None
        self.group: TemplateGroup | None = None
        self.group_is_flat = False
        self.contact_category = ""

    def error(self, line: int, message: str) -> None:
        self.errors.append((line, message))

    # --- headings ------------------------------------------------------------------------------
    def heading(self, n: int, level: int, text: str) -> None:
        self.group = None
        if level == 1:
            if self.title is None:
                self.title = text
            else:
                self.error(n, f'a second "# {text}" title; a template has one "#" title')
        elif level == 2:
            self._phase_heading(n, text)
        elif level == 3:
            self._section_heading(n, text)
        else:
            self.error(n, f'"{"#" * level} {text}" is too deep; use "##" for phases and "###" for sections')

    def _phase_heading(self, n: int, text: str) -> None:
        self.section = None
        self.phase = None
        lowered = text.lower()
        if "contact" in lowered:
            self.mode = "contacts"
            return
        if re.search(r"sign[- ]?offs?", lowered):
            self.mode = "signoffs"
            return
        self.mode = "phase"
        match = _TIMING.match(text)
        title, timing = (match.group(1).strip(), match.group(2).strip()) if match else (text, None)
        if len(title) > TITLE_MAX:
            self.error(n, f"phase title is {len(title)} characters; Slack headers show at most {TITLE_MAX}")
        self.phase = TemplatePhase(
            title=title, timing=timing, kind="checklist" if timing else "criteria", sections=[], line=n
        )
        self.phases.append(self.phase)

    def _section_heading(self, n: int, text: str) -> None:
        title = _strip_decoration(text)
        if self.mode == "contacts":
            self.contact_category = title
            return
        if self.mode != "phase" or self.phase is None:
            self.error(n, f'section "### {title}" is not inside a "## Phase" heading')
            self.section = None
            return
        if len(title) > TITLE_MAX:
            self.error(n, f"section title is {len(title)} characters; Slack headers show at most {TITLE_MAX}")
        self.section = TemplateSection(title=title, groups=[], line=n)
        self.phase.sections.append(self.section)

    # --- list lines ----------------------------------------------------------------------------
    def checkbox(self, n: int, indent: int, text: str) -> None:
        if self.section is None:
            where = '"### Section" heading' if self.mode == "phase" else '"## Phase" and "### Section"'
            self.error(n, f'item "- [ ] {text}" is not inside a {where}')
            return
        bold = _BOLD.match(text)
        if indent == 0 and bold and not bold.group(2).strip():
            self._start_group(n, bold.group(1).strip(), stage=None)
            return
        if indent > 0:
            if self.group is None or self.group_is_flat:
                self.error(n, f'indented item "- [ ] {text}" has no "- [ ] **Group**" or numbered stage above it')
                return
            self._add_item(n, text)
            return
        if self.group is None or not self.group_is_flat:
            self.group = TemplateGroup(title=None, items=[], line=n)
            self.group_is_flat = True
            self.section.groups.append(self.group)
        self._add_item(n, text)

    def stage(self, n: int, number: int, text: str) -> None:
        if self.section is None:
            self.error(n, f'stage "{number}. {text}" is not inside a "### Section" heading')
            return
        bold = _BOLD.match(text)
        title = bold.group(1).strip() if bold else text
        self._start_group(n, title, stage=number)

    def _start_group(self, n: int, raw_title: str, *, stage: int | None) -> None:
        assert self.section is not None
        title, minutes = split_duration(raw_title)
        if not title:
            self.error(n, "a group needs a title")
        if len(title) > TITLE_MAX:
            self.error(n, f"group title is {len(title)} characters; at most {TITLE_MAX}")
        self.group = TemplateGroup(title=title, stage=stage, duration_minutes=minutes, items=[], line=n)
        self.group_is_flat = False
        self.section.groups.append(self.group)

    def _add_item(self, n: int, raw: str) -> None:
        assert self.group is not None
        text, minutes = split_duration(raw)
        if not text:
            self.error(n, "empty checklist item")
            return
        if len(text) > ITEM_TEXT_MAX:
            self.error(n, f"item text is {len(text)} characters; Slack shows at most {ITEM_TEXT_MAX}")
        self.group.items.append(TemplateItem(text=text, duration_minutes=minutes, line=n))

    def contact(self, n: int, text: str) -> None:
        match = _CONTACT.match(text)
        if not match:
            self.error(n, f'contact line "- {text}" should look like "- **Role**: name - phone"')
            return
        self.contacts.append(
            TemplateContact(
                category=self.contact_category or "Contacts",
                role=match.group(1).strip(),
                value=match.group(2).strip(),
                line=n,
            )
        )

    def table_row(self, n: int, line: str) -> None:
        if _TABLE_SEPARATOR.match(line.strip()):
            return
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        title = cells[0] if cells else ""
        if not title or title.lower() == "role":
            return
        rid = role_id(title)
        if any(r.role_id == rid for r in self.roles):
            self.error(n, f'sign-off role "{title}" appears twice')
            return
        self.roles.append(TemplateSignOffRole(role_id=rid, title=title, line=n))

    # --- driver --------------------------------------------------------------------------------
    def line(self, n: int, raw: str) -> None:
        line = raw.replace("\t", "    ").rstrip()
        if not line.strip():
            return
        if self.mode == "footer":
            return
        if line.strip() in ("---", "***", "___") and not line.startswith(" "):
            # The document footer (version, review date) follows the rule; it is not checklist content.
            self.mode = "footer"
            return
        if heading := _HEADING.match(line):
            self.heading(n, len(heading.group(1)), heading.group(2))
            return
        if self.mode == "signoffs":
            if line.lstrip().startswith("|"):
                self.table_row(n, line)
            else:
                self.error(n, "the sign-offs section holds a Markdown table: | Role | Name | Date | Signature |")
            return
        if self.mode == "contacts":
            if bullet := _BULLET.match(line):
                self.contact(n, bullet.group(2))
            else:
                self.error(n, f'unexpected line in the contacts section: "{line.strip()}"')
            return
        if checkbox := _CHECKBOX.match(line):
            self.checkbox(n, len(checkbox.group(1)), checkbox.group(3))
        elif stage := _STAGE.match(line):
            if len(stage.group(1)) > 0:
                self.error(n, f'a numbered stage "{line.strip()}" must not be indented')
            else:
                self.stage(n, int(stage.group(2)), stage.group(3))
        elif _BULLET.match(line):
            self.error(n, f'"{line.strip()}" is a list item without a checkbox; write "- [ ] …"')
        elif self.mode == "none" and self.title is not None and not self.phases:
            return  # free text between the title and the first phase is allowed
        else:
            self.error(n, f'unexpected line: "{line.strip()}"')

    def finish(self) -> ChecklistTemplate:
        if self.title is None:
            self.error(1, 'the template has no "# Title" line')
        for phase in self.phases:
            if not phase.sections:
                self.error(phase.line, f'phase "{phase.title}" has no "### Section" with items')
            for section in phase.sections:
                if not section.groups:
                    self.error(section.line, f'section "{section.title}" has no items')
                for group in section.groups:
                    if not group.items:
                        self.error(group.line, f'group "{group.title}" has no items under it')
        if not any(p.kind == "checklist" for p in self.phases):
            self.error(1, 'no checklist phase: a phase heading needs a timing, e.g. "## Pre-Launch (T-7 days)"')
        if self.errors:
            raise TemplateParseError(sorted(self.errors))
        return ChecklistTemplate(
            title=self.title or "",
            phases=self.phases,
            contacts=self.contacts,
            sign_off_roles=self.roles,
        )


def parse_template(text: str) -> ChecklistTemplate:
    """Parse a Markdown checklist; raises TemplateParseError listing every problem with its line."""
    parser = _Parser()
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        parser.line(n, raw)
    return parser.finish()


def load_template(path: Path | None = None) -> ChecklistTemplate:
    path = path or DEFAULT_TEMPLATE_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateParseError([(0, f"cannot read {path}: {exc.strerror}")]) from exc
    return parse_template(text)


def validate_template_file(path: Path) -> tuple[bool, str]:
    """For ``launchbot checklist validate``: (ok, report)."""
    try:
        template = load_template(path)
    except TemplateParseError as exc:
        return False, "\n".join(f"{path}:{line}: {message}" for line, message in exc.errors)
    phases, sections, items = template.counts()
    return True, (
        f"OK: {template.title} — {phases} phases, {sections} sections, {items} items, "
        f"{len(template.contacts)} contacts, {len(template.sign_off_roles)} sign-off roles"
    )
