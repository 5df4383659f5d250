"""The template lines the metric watch knows: thresholds and gradual rollback triggers a rule may
watch (a rule whose name equals the line, case-insensitively), and the immediate rollback triggers
reported by hand (``/launch trigger <slug>``); a rule may watch one of those too (its alert pages)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.checklist.template import ChecklistTemplate
from bot.core.config import PrometheusRule

IMMEDIATE = "immediate rollback triggers"
GRADUAL = "gradual rollback triggers"
# A line carrying a numeric threshold: "Error rate < 0.1%", "Order success rate > 99%".
_THRESHOLD = re.compile(r"[<>]=?\s*\d")


@dataclass(frozen=True)
class Trigger:
    slug: str
    text: str


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _criteria_sections(template: ChecklistTemplate, title: str) -> list[str]:
    return [
        item.text
        for phase in template.phases
        for section in phase.sections
        if section.title.strip().lower() == title
        for group in section.groups
        for item in group.items
    ]


def immediate_triggers(template: ChecklistTemplate) -> list[Trigger]:
    return [Trigger(slug(text), text) for text in _criteria_sections(template, IMMEDIATE)]


def find_trigger(template: ChecklistTemplate, name: str) -> Trigger | None:
    """By slug, or by a prefix of exactly one slug (``data-corruption``)."""
    wanted = slug(name)
    triggers = immediate_triggers(template)
    exact = [t for t in triggers if t.slug == wanted]
    if exact:
        return exact[0]
    starts = [t for t in triggers if wanted and t.slug.startswith(wanted)]
    return starts[0] if len(starts) == 1 else None


def watchable_lines(template: ChecklistTemplate) -> list[str]:
    """Every line with a numeric threshold outside the immediate triggers, then every gradual
    rollback trigger, in template order, without repeats."""
    immediate = {t.text for t in immediate_triggers(template)}
    found: list[str] = []
    for phase in template.phases:
        for section in phase.sections:
            gradual = section.title.strip().lower() == GRADUAL
            for group in section.groups:
                for item in group.items:
                    if item.text in immediate or item.text in found:
                        continue
                    if gradual or _THRESHOLD.search(item.text):
                        found.append(item.text)
    return found


def unwatched_lines(template: ChecklistTemplate, rules: Sequence[PrometheusRule]) -> list[str]:
    names = {r.name.strip().lower() for r in rules}
    return [line for line in watchable_lines(template) if line.strip().lower() not in names]


def watched_line(template: ChecklistTemplate, rule: PrometheusRule) -> str | None:
    wanted = rule.name.strip().lower()
    return next((x for x in watchable_lines(template) if x.strip().lower() == wanted), None)


def rules_report(template: ChecklistTemplate, rules: Sequence[PrometheusRule]) -> list[str]:
    """``launchbot checklist validate --config``: what each rule watches, and the lines none does."""
    lines = [f"prometheus rules: {len(rules)}"]
    immediate = {t.text.strip().lower(): t for t in immediate_triggers(template)}
    for rule in rules:
        line = watched_line(template, rule)
        trigger = immediate.get(rule.name.strip().lower())
        if line:
            where = f"watches “{line}”"
        elif trigger is not None:
            # Also reportable by hand (/launch trigger); a breach alerts at once and pages.
            where = f"watches immediate rollback trigger “{trigger.text}” (paged critical)"
        else:
            where = "watches no template line (name differs)"
        lines.append(
            f"  {rule.name} ({rule.action}, healthy {rule.healthy}, for {rule.for_}): {where}"
        )
    missing = unwatched_lines(template, rules)
    lines.append(f"not watched: {len(missing)}")
    lines.extend(f"  {text}" for text in missing)
    return lines
