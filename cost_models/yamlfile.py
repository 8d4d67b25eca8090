"""Reading the YAML that users hand us (configs, target files): safe, strict and bounded.

:func:`load_yaml_file` is ``yaml.safe_load`` with three refusals, each one line naming the
file and the line:

* a duplicate key in a mapping (the later value would silently win);
* anchors and aliases (``&name`` / ``*name``): a 1 KB file of nested aliases expands to
  gigabytes ("billion laughs"), and a config has no need for them;
* a file over ``max_bytes`` (default :data:`MAX_BYTES`, 1 MiB), or nested too deeply.

Numbers in exponent form without a dot (``1e-3``) are read as numbers, as in YAML 1.2
(plain PyYAML reads them as strings). cost_models, supernet and search all use this module.

>>> load_yaml_text("lr: 1e-3\\nsizes: [8, 16]\\n")
{'lr': 0.001, 'sizes': [8, 16]}
>>> load_yaml_text("a: 1\\na: 2\\n", "c.yaml")
Traceback (most recent call last):
...
cost_models.yamlfile.YamlError: c.yaml, line 2: duplicate key 'a' (first on line 1)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

#: the largest YAML file read (bytes); a config or target file is a few KB
MAX_BYTES = 1 << 20


class YamlError(ValueError):
    """A YAML file or text that cannot be read; the message names it and the line."""


class _Refused(yaml.MarkedYAMLError):
    """A construct the strict loader refuses (raised with the mark of the offending node)."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, anchors and aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(problem="anchors and aliases (&name, *name) are not allowed; write the values out",
                           problem_mark=event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if seen is not None:
                    raise _Refused(problem=f"duplicate key {key!r} (first on line {seen})",
                                   problem_mark=key_node.start_mark)
                first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


# YAML 1.2 floats: "1e-3" and "2E5" are numbers (PyYAML's YAML 1.1 rules need a dot and a sign)
StrictLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml_text(text: str, name: str = "<text>", error: type[Exception] = YamlError) -> Any:
    """Parse ``text`` with :class:`StrictLoader`; problems raise ``error("NAME, line N: ...")``."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (StrictLoader is a SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        what = " ".join(str(p) for p in (err.context, err.problem) if p)
        prefix = "" if isinstance(err, _Refused) else "not valid YAML: "
        raise error(f"{name}{line}: {prefix}{what}") from None
    except yaml.YAMLError as err:
        raise error(f"{name}: not valid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise error(f"{name}: not valid YAML: nested too deeply") from None


def load_yaml_file(path: str | Path, error: type[Exception] = YamlError, max_bytes: int = MAX_BYTES) -> Any:
    """The YAML document in ``path`` (see the module docstring for what is refused).

    A missing file, a file over ``max_bytes`` or one that is not UTF-8 text is ``error`` too.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: larger than {max_bytes} bytes, the limit for a YAML file; "
                    f"is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start})") from None
    return load_yaml_text(text, str(path), error)
