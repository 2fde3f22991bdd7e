"""Knowledge the engine cannot apply, each named once with add-on, file, stanza and key."""
from __future__ import annotations

from .addons import Setting


class Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self._seen: set[str] = set()
        self._shown = 0

    def note(self, message: str) -> None:
        """A problem that is not a setting's (a file skipped while reading an add-on)."""
        if message not in self._seen:
            self._seen.add(message)
            self.messages.append(message)

    def unshown(self) -> list[str]:
        """The messages added since the last call (each is shown once)."""
        new, self._shown = self.messages[self._shown:], len(self.messages)
        return new

    def add(self, setting: Setting | None, stanza: str, key: str, reason: str) -> None:
        where = f"{setting.addon}: {setting.layer}/{setting.file}" if setting else "knowledge"
        message = f"{where} [{stanza}] {key}: {reason}"
        if message not in self._seen:
            self._seen.add(message)
            self.messages.append(message)
