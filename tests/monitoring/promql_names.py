"""The metric names a PromQL expression reads (enough of PromQL for alert rules and dashboards).

Given an expression, strip what can hold a name that is not a metric (string literals, label matchers,
ranges and subqueries, by/without/on/ignoring/group_* label lists, Grafana $variables), then every remaining
identifier that is neither a function call nor a keyword is a metric name.
"""

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
# A whole identifier not glued to a number (1e3, 5m); group 2 is set when it is a call (rate(...), sum(...)).
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
             "unless", "atan2", "inf", "nan", "start", "end"}
# Grafana's template query label_values(<expr>, <label>).
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$", re.S)


def metric_names(expr):
    """Given a PromQL expression, return the set of metric names it reads."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _LABEL_LISTS.sub("", text)
    text = _VARIABLES.sub("", text)
    return {name for name, call in _IDENT.findall(text) if not call and name.lower() not in _KEYWORDS}


def template_query(query):
    """Given a Grafana Prometheus variable query, return (PromQL expression, label or None)."""
    m = _LABEL_VALUES.match(query)
    return (m.group(1), m.group(2)) if m else (query, None)
