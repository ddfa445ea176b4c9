"""One way to register a plugin: readers, filters, clean steps, judges and judge backends.

A plugin registers itself by name where it is defined::

    READERS = Registry("reader", "data.sources.<name>.reader")

    @READERS.register("stackexchange")
    def stackexchange_pool(...): ...

and a config selects it by that name. A plugin that takes options from the config declares
them as a pydantic model (``register("x", options=XOptions)``): its fields, with their types and
defaults, are the only keys the config may give it (``limalab.config`` checks them before any
work starts) and the plugin reads them validated. The built-in plugins live in the modules a
registry lists in ``builtins`` (imported on first lookup, so nothing heavy loads before it is used);
a user's own plugins are modules named in the config's top-level ``plugins`` list (imported
by ``import_plugins`` before anything is looked up), so a new reader or judge is its module
plus its config file, with no edit to limalab.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named plugins of one kind. ``key`` is the config key that selects one (for errors)."""

    def __init__(self, kind: str, key: str, builtins: Iterable[str] = ()) -> None:
        self.kind, self.key = kind, key
        self._builtins = tuple(builtins)
        self._loaded = False
        self._items: dict[str, T] = {}
        self._options: dict[str, Any] = {}

    def register(self, name: str, options: Any = None) -> Callable[[T], T]:
        """Register under ``name``; ``options``: the pydantic model of the keys it reads."""

        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(
                    f"{self.kind} {name!r} is registered twice "
                    f"({_where(self._items[name])} and {_where(obj)})"
                )
            self._items[name] = obj
            if options is not None:
                self._options[name] = options
            return obj

        return add

    def options(self, name: str) -> Any:
        """The options model ``name`` declared, or ``None`` (it takes no options)."""
        self._load()
        return self._options.get(name)

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._builtins:
                importlib.import_module(module)

    def get(self, name: object, key: str | None = None) -> T:
        """The plugin ``name``, or a one-line error naming the config key and the known names."""
        self._load()
        if not isinstance(name, str) or name not in self._items:
            raise ValueError(
                f"{key or self.key}: unknown {self.kind} {name!r}; expected one of {self.names()}"
            )
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def import_plugins(modules: Iterable[str] | None) -> None:
    """Import the config's ``plugins`` (module names), whose decorators register them."""
    for module in modules or ():
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"plugins: cannot import {module!r} ({e})") from None
