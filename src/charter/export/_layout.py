"""Where things live inside a packaged container: shared by the Dockerfile and the manifests."""

from __future__ import annotations

import re

__all__ = [
    "APP_DIR",
    "KEYS_DIR",
    "KEYS_FILE",
    "KEYS_NAME",
    "LOG_DIR",
    "PORT",
    "PROJECT_DIR",
    "UID",
    "VENV",
    "resource_name",
]

VENV = "/opt/venv"
APP_DIR = "/app"
PROJECT_DIR = f"{APP_DIR}/project"
LOG_DIR = "/var/lib/charter/predictions"
KEYS_DIR = "/run/secrets/charter"
KEYS_NAME = "api-keys"
KEYS_FILE = f"{KEYS_DIR}/{KEYS_NAME}"
PORT = 8000
UID = 10001


def resource_name(project: str) -> str:
    """A project's name as Kubernetes and image tags accept it: lower case, digits and '-'."""
    name = re.sub(r"[^a-z0-9-]+", "-", project.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:40].strip("-")
    return name or "charter"
