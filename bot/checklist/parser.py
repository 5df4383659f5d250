"""Reads the Markdown checklist format (see ``bot.checklist.template``) into a ``ChecklistTemplate``:
``parse_template``, ``load_template`` and the ``launchbot checklist validate`` report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.checklist.line_grammar import (
    BOLD,
    BULLET,
    CHECKBOX,
    CONTACT,
    HEADING,
    ITEM_TEXT_MAX,
    KEY_MARKER,
    NESTED_INDENT,
    RULE,
    SIGN_OFF_HEADING,
    STAGE,
    TIMING,
    TITLE_MAX,
    Mode,
    footer_start,
    is_table_separator,
    role_id,
    split_duration,
    strip_decoration,
    unbold,
)
from bot.checklist.template import (
    DEFAULT_ITEM_KEYS,
    DEFAULT_TEMPLATE_PATH,
    ChecklistTemplate,
    ItemKey,
    TemplateContact,
    TemplateGroup,
    TemplateItem,
    TemplateParseError,
    TemplatePhase,
    TemplateSection,
    TemplateSignOffRole,
)

GROUP_KEY_ERROR = "a {#key} marks an item the bot can prove, not a group: move it to that item"

# ---------------------------------------------------------------------------------------------------
# Parser: a line-by-line state machine. Each line kind has one small function; errors are collected
# (not raised at the first one) so `launchbot checklist validate` can list them all.


class _Parser:
    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        # Keys by exact item text, for items without a marker (the bundled template's table).
        self.keys = dict(keys or {})
        self.keyed: dict[str, int] = {}  # key -> line of the item that has it
        self.errors: list[tuple[int, str]] = []
        self.title: str | None = None
        self.title_line = 1
        self.phases: list[TemplatePhase] = []
        self.contacts: list[TemplateContact] = []
        self.roles: list[TemplateSignOffRole] = []
        self.mode: Mode = "none"
        self.phase: TemplatePhase | None = None
        self.section: TemplateSection | None = None
        # A "###" rejected for being outside a phase: its lines are not reported again one by one.
        self.in_orphan_section = False
        self.group: TemplateGroup | None = None
        self.group_is_flat = False
        self.contact_category = ""
        self.table_rows = 0

    def error(self, line: int, message: str) -> None:
        self.errors.append((line, message))

    # --- headings ------------------------------------------------------------------------------
    def heading(self, n: int, level: int, text: str) -> None:
        self.group = None
        self.in_orphan_section = False
        if level == 1:
            if self.title is None:
                self.title, self.title_line = text, n
            else:
                self.error(n, f'a second "# {text}" title; a template has one "#" title')
        elif level == 2:
            self._phase_heading(n, text)
        elif level == 3:
            self._section_heading(n, text)
        else:
            self.error(
                n, f'"{"#" * level} {text}" is too deep; use "##" for phases and "###" for sections'
            )

    def _phase_heading(self, n: int, text: str) -> None:
        self.section = None
        self.phase = None
        if "contact" in text.lower():
            self.mode = "contacts"
            self.contact_category = ""
            return
        if SIGN_OFF_HEADING.search(text):
            self.mode = "signoffs"
            self.table_rows = 0
            return
        self.mode = "phase"
        text = strip_decoration(text)
        match = TIMING.match(text)
        title, timing = (match.group(1).strip(), match.group(2)) if match else (text, None)
        if len(title) > TITLE_MAX:
            self.error(
                n, f"phase title is {len(title)} characters; Slack headers show at most {TITLE_MAX}"
            )
        self.phase = TemplatePhase(
            title=title,
            timing=timing,
            # Without a timing the phase lists conditions to watch (rollback criteria), not work.
            kind="checklist" if timing else "criteria",
            sections=[],
            line=n,
        )
        self.phases.append(self.phase)

    def _section_heading(self, n: int, text: str) -> None:
        title = strip_decoration(text)
        if self.mode == "contacts":
            self.contact_category = title
            return
        if self.mode == "signoffs":
            self.error(n, f'"### {title}" inside the sign-offs; that section holds only a table')
            return
        if self.phase is None:
            self.error(n, f'section "### {title}" is not inside a "## Phase (T-…)" heading')
            self.section = None
            self.in_orphan_section = True
            return
        if len(title) > TITLE_MAX:
            self.error(
                n,
                f"section title is {len(title)} characters; Slack headers show at most {TITLE_MAX}",
            )
        self.section = TemplateSection(title=title, groups=[], line=n)
        self.phase.sections.append(self.section)

    # --- checklist lines -----------------------------------------------------------------------
    def _outside_section(self, n: int, what: str) -> bool:
        """Report ``what`` when there is no section to put it in; True if so."""
        if self.section is not None:
            return False
        if not self.in_orphan_section:
            where = '"### Section" heading' + ("" if self.phase else ' (nor a "## Phase" heading)')
            self.error(n, f"{what} is not inside a {where}")
        return True

    def checkbox(self, n: int, indent: int, text: str, source: str) -> None:
        if self._outside_section(n, f'item "{source}"'):
            return
        assert self.section is not None
        if indent >= NESTED_INDENT:
            if self.group is None or self.group_is_flat:
                self.error(
                    n,
                    f'indented item "{source}" has no "- [ ] **Group**" or numbered stage above it',
                )
                return
            self._add_item(n, text)
            return
        bold = BOLD.match(text)
        if bold and bold.group(2).strip().startswith("{#"):
            self.error(n, GROUP_KEY_ERROR)
            return
        if bold and not bold.group(2).strip():
            self._start_group(n, bold.group(1).strip(), stage=None)
            return
        if self.group is None or not self.group_is_flat:
            self.group = TemplateGroup(title=None, items=[], line=n)
            self.group_is_flat = True
            self.section.groups.append(self.group)
        self._add_item(n, text)

    def stage(self, n: int, indent: int, number: int, text: str, source: str) -> None:
        if indent >= NESTED_INDENT:
            self.error(n, f'numbered stage "{source}" must not be indented')
            return
        if self._outside_section(n, f'stage "{source}"'):
            return
        self._start_group(n, unbold(text), stage=number)

    def _start_group(self, n: int, raw_title: str, *, stage: int | None) -> None:
        assert self.section is not None
        title, minutes = split_duration(raw_title)
        if not title:
            self.error(n, 'a group needs a title, e.g. "- [ ] **Database**"')
        elif KEY_MARKER.match(title):
            self.error(n, GROUP_KEY_ERROR)
        elif len(title) > TITLE_MAX:
            self.error(
                n, f"group title is {len(title)} characters; Slack shows at most {TITLE_MAX}"
            )
        self.group = TemplateGroup(
            title=title, stage=stage, duration_minutes=minutes, items=[], line=n
        )
        self.group_is_flat = False
        self.section.groups.append(self.group)

    def _add_item(self, n: int, raw: str) -> None:
        assert self.group is not None
        raw, key = self._key(n, raw)
        text, minutes = split_duration(raw)
        if not text:
            self.error(n, 'empty checklist item: write the task after "- [ ]"')
            return
        # Measured as written: the duration is shown with the text in the Slack option.
        if len(raw) > ITEM_TEXT_MAX:
            self.error(
                n, f"item text is {len(raw)} characters; Slack shows at most {ITEM_TEXT_MAX}"
            )
        key = key or self.keys.get(text)
        if key is not None and key in self.keyed:
            self.error(n, f'key "{key}" is already on the item of line {self.keyed[key]}')
            key = None
        if key is not None:
            self.keyed[key] = n
        self.group.items.append(TemplateItem(text=text, duration_minutes=minutes, line=n, key=key))

    def _key(self, n: int, raw: str) -> tuple[str, str | None]:
        """``"Kill switch armed {#killswitch.armed}"`` -> (``"Kill switch armed"``, the key)."""
        match = KEY_MARKER.match(raw)
        if not match:
            return raw, None
        key = match.group(2).strip()
        if key not in set(ItemKey):
            known = ", ".join(f"{{#{k}}}" for k in ItemKey)
            self.error(n, f'unknown item key "{{#{key}}}"; the keys are {known}')
            return match.group(1), None
        return match.group(1), key

    # --- contacts and sign-offs ----------------------------------------------------------------
    def contact(self, n: int, text: str) -> None:
        match = CONTACT.match(text)
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
        self.table_rows += 1
        if self.table_rows == 1:
            return  # the header row: | Role | Name | Date | Signature |
        if is_table_separator(line):
            return
        if self.table_rows == 2:
            self.error(n, 'the sign-off table needs a "|------|------|" row under its header row')
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        title = unbold(cells[0])
        rid = role_id(title)
        if not rid:
            self.error(n, "sign-off row has no role name in its first column")
            return
        if any(role.role_id == rid for role in self.roles):
            self.error(n, f'sign-off role "{title}" appears twice (role id "{rid}")')
            return
        self.roles.append(TemplateSignOffRole(role_id=rid, title=title, line=n))

    # --- driver --------------------------------------------------------------------------------
    def line(self, n: int, line: str) -> None:
        if RULE.match(line):
            return  # a visual separator; the footer's own rule never gets here
        if heading := HEADING.match(line):
            self.heading(n, len(heading.group(1)), heading.group(2))
            return
        source = line.strip()
        if self.mode == "signoffs":
            if source.startswith("|"):
                self.table_row(n, line)
            else:
                self.error(
                    n,
                    f'unexpected "{source}": the sign-offs section holds a Markdown table: '
                    "| Role | Name | Date | Signature |",
                )
            return
        if self.mode == "contacts":
            if bullet := BULLET.match(line):
                self.contact(n, bullet.group(2))
            else:
                self.error(n, f'unexpected line in the contacts section: "{source}"')
            return
        if checkbox := CHECKBOX.match(line):
            self.checkbox(n, len(checkbox.group(1)), checkbox.group(2), source)
        elif stage := STAGE.match(line):
            self.stage(n, len(stage.group(1)), int(stage.group(2)), stage.group(3), source)
        elif BULLET.match(line):
            if not self.in_orphan_section:
                self.error(n, f'"{source}" is a list item without a checkbox; write "- [ ] …"')
        elif self.mode == "none" and self.title is not None:
            return  # an introduction between the title and the first phase is allowed
        elif not self.in_orphan_section:
            self.error(n, f'unexpected line "{source}": not a heading, checkbox or numbered stage')

    def footer_line(self, n: int, line: str) -> None:
        # The footer (document version, review date) is ignored; a checkbox there would be lost.
        if CHECKBOX.match(line):
            self.error(
                n,
                f'item "{line.strip()}" is after the closing "---" (the footer); move it above',
            )

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
                        name = f"stage {group.stage}" if group.stage is not None else "group"
                        self.error(
                            group.line,
                            f'{name} "{group.title}" has no indented "- [ ] item" lines under it',
                        )
        if not any(phase.kind == "checklist" for phase in self.phases):
            where = self.phases[0].line if self.phases else self.title_line
            self.error(
                where,
                'no checklist phase: a phase heading needs a timing, e.g. "## Pre-Launch (T-7 days)"',
            )
        if self.errors:
            raise TemplateParseError(sorted(self.errors, key=lambda error: error[0]))
        return ChecklistTemplate(
            title=self.title or "",
            phases=self.phases,
            contacts=self.contacts,
            sign_off_roles=self.roles,
        )


def parse_template(text: str, *, keys: Mapping[str, str] | None = None) -> ChecklistTemplate:
    """Parse a Markdown checklist; raises TemplateParseError listing every problem with its line.
    ``keys``: item keys by exact item text, for items without a ``{#key}`` marker (the bundled
    template's ``DEFAULT_ITEM_KEYS``)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [raw.replace("\t", "    ").rstrip() for raw in text.split("\n")]
    footer = footer_start(lines)
    parser = _Parser(keys)
    for index, line in enumerate(lines):
        if not line:
            continue
        if index > footer:
            parser.footer_line(index + 1, line)
        else:
            parser.line(index + 1, line)
    return parser.finish()


def load_template(path: Path | None = None) -> ChecklistTemplate:
    """Parse the template at ``path`` (the bundled default when None). The bundled template gets
    its item keys from ``DEFAULT_ITEM_KEYS``; any other template marks its own (``{#key}``)."""
    if path is None:
        path = DEFAULT_TEMPLATE_PATH
    keys = DEFAULT_ITEM_KEYS if _is_bundled(path) else None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateParseError([(0, f"cannot read {path}: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise TemplateParseError([(0, f"cannot read {path}: it is not UTF-8 text")]) from exc
    return parse_template(text, keys=keys)


def _is_bundled(path: Path) -> bool:
    try:
        return path.resolve() == DEFAULT_TEMPLATE_PATH.resolve()
    except OSError:
        return False


def validate_template_file(path: Path) -> tuple[bool, str]:
    """For ``launchbot checklist validate``: (ok, report), the report one ``path:LINE: message`` per error."""
    try:
        template = load_template(path)
    except TemplateParseError as exc:
        return False, "\n".join(f"{path}:{line}: {message}" for line, message in exc.errors)
    phases, sections, items = template.counts()
    return True, (
        f"OK: {template.title} — {phases} phases, {sections} sections, {items} items, "
        f"{len(template.contacts)} contacts, {len(template.sign_off_roles)} sign-off roles"
    )
