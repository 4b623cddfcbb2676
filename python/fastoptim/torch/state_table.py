"""``optimizer.state`` of the fastoptim.torch classes: torch's ``defaultdict(dict)``, plus a
callback on every change.

fastoptim.torch binds a step plan to the state tensors once and reuses it, so it must learn
when the state changes under it: engines and users write ``optimizer.state[p]`` directly
(ZeroRedundancyOptimizer when it loads), delete entries, call ``state.clear()``, or replace a
buffer (``state[p]["exp_avg"] = t``). Every such change calls ``on_change`` (which drops the
cached plans). Both classes pickle and deep-copy as the plain dicts torch uses.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any

_MISSING = object()


def _plain_table(items: dict) -> defaultdict:
    return defaultdict(dict, {k: dict(v) for k, v in items.items()})


class _ReportsChanges:
    """The mutators that both dicts share: do it, then report it."""

    __slots__ = ()
    _on_change: Callable[[], None]

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)  # type: ignore[misc]
        self._on_change()

    def clear(self) -> None:
        super().clear()  # type: ignore[misc]
        self._on_change()

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        value = super().pop(key) if default is _MISSING else super().pop(key, default)  # type: ignore[misc]
        self._on_change()
        return value

    def popitem(self) -> tuple[Any, Any]:
        item = super().popitem()  # type: ignore[misc]
        self._on_change()
        return item

    def __ior__(self, other: Any) -> Any:
        self.update(other)  # type: ignore[attr-defined]
        return self


class StateEntry(_ReportsChanges, dict):
    """The state of one parameter: a dict that reports every change."""

    __slots__ = ("_on_change",)

    def __init__(self, data: Any, on_change: Callable[[], None]) -> None:
        super().__init__(data)
        self._on_change = on_change

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._on_change()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._on_change()

    def __reduce__(self) -> tuple:
        return (dict, (dict(self),))


class StateTable(_ReportsChanges, defaultdict):
    """``optimizer.state``: parameter -> :class:`StateEntry`, created on first access as
    torch's ``defaultdict(dict)`` does; reports every change of itself or of an entry."""

    def __init__(self, data: Any, on_change: Callable[[], None]) -> None:
        super().__init__(lambda: StateEntry({}, on_change))
        self._on_change = on_change
        for key, value in dict(data).items():
            super().__setitem__(key, self._entry(value))

    def _entry(self, value: Any) -> Any:
        if isinstance(value, dict) and not (isinstance(value, StateEntry) and value._on_change is self._on_change):
            return StateEntry(value, self._on_change)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, self._entry(value))
        self._on_change()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = {} if default is None else default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            super().__setitem__(key, self._entry(value))
        self._on_change()

    def __reduce__(self) -> tuple:
        return (_plain_table, (dict(self),))

    def __deepcopy__(self, memo: dict) -> defaultdict:
        return _plain_table({copy.deepcopy(k, memo): copy.deepcopy(dict(v) if isinstance(v, dict) else v, memo)
                             for k, v in self.items()})

    def __copy__(self) -> defaultdict:
        return _plain_table(dict(self))
