# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes resource quantities ('8', '500m', '16Gi', 2) as exact Decimals, and back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from decimal import Decimal, InvalidOperation

SUFFIXES = {"": 1, "m": Decimal("0.001"), "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12,
            "P": 10 ** 15, "E": 10 ** 18, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30,
            "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def quantity(value):
    """A quantity as a Decimal; None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in SUFFIXES:
        return None
    try:
        return Decimal(match.group(1)) * SUFFIXES[match.group(2)]
    except InvalidOperation:
        return None


def format_quantity(value, like=None):
    """A Decimal as a quantity string, in the binary suffix of `like` when it divides evenly
    (so memory stays in Gi), else as a plain number."""
    unit = ""
    if like is not None:
        match = _QUANTITY.match(str(like).strip())
        unit = match.group(2) if match else ""
    factor = SUFFIXES.get(unit, 1)
    if unit and value % factor == 0:
        return "%d%s" % (value / factor, unit)
    if value == value.to_integral_value():
        return "%d" % value
    return str(value.normalize())
