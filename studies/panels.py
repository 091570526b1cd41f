"""Panels that higher apps add to the study page: each registers a template and a function
giving its context (None: not shown to this user), in its AppConfig.ready, so that studies
never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

PanelContext = Callable[[HttpRequest, Any, Any], dict[str, Any] | None]


@dataclass(frozen=True)
class StudyPanel:
    template: str
    context: PanelContext


_panels: list[StudyPanel] = []


def register_study_panel(template: str, context: PanelContext) -> None:
    if all(panel.template != template for panel in _panels):
        _panels.append(StudyPanel(template, context))


def study_panels(request: HttpRequest, study: Any, worklist: Any) -> list[dict[str, Any]]:
    """[{"template": ..., "panel": context}] for each registered panel this user may see."""
    shown = []
    for panel in _panels:
        context = panel.context(request, study, worklist)
        if context is not None:
            shown.append({"template": panel.template, "panel": context})
    return shown
