"""Celery tasks of the geography app: thin wrappers around services, idempotent, safe to run at any time."""

from __future__ import annotations

from celery import shared_task

from geography.tiles import component_clusters_rebuild


@shared_task(name="geography.rebuild_component_clusters")
def rebuild_component_clusters(bbox: list[float] | None = None) -> dict[str, float]:
    """Count the components layer's cluster pyramid again (everywhere, or over bbox = [west, south, east, north]):
    after a component import, and nightly from beat."""
    box = None
    if bbox:
        west, south, east, north = bbox
        box = (west, south, east, north)
    result = component_clusters_rebuild(bbox=box)
    return {"components": result.components, "cells": result.cells, "totals": result.totals, "seconds": result.seconds}
