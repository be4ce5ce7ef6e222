"""Security rules enforced in CI over ``fieldcast/``; each rule is also proven to catch a violation."""

from __future__ import annotations

import pytest
from source_rules import ALLOWED_SESSION_MODULES, RULES, package_sources, session_modules

# For each rule: code that breaks it, and close code that does not.
VIOLATIONS = {
    "torch.load only with weights_only=True": (
        "import torch\nstate = torch.load(path, map_location='cpu')\n",
        "import torch\nstate = torch.load(path, map_location='cpu', weights_only=True)\n",
    ),
    "np.load never with allow_pickle": (
        "import numpy as np\nx = np.load(path, allow_pickle=True)\n",
        "import numpy as np\nx = np.load(path, allow_pickle=False)\n",
    ),
    "no eval/exec/compile": (
        "value = eval(text)\n",
        "model.eval()\n",
    ),
    "no pickle/marshal loading": (
        "import pickle\nobj = pickle.loads(blob)\n",
        "import pickle\nblob = pickle.dumps(obj)\n",
    ),
    "no network modules": (
        "from urllib.request import urlopen\n",
        "from pathlib import Path\n",
    ),
    "InferenceSession only after validation": (
        "import onnxruntime as ort\ndef load(path):\n    return ort.InferenceSession(str(path))\n",
        "import onnxruntime as ort\ndef load(path):\n    load_checked(path)\n"
        "    return ort.InferenceSession(str(path))\n",
    ),
}
MORE_VIOLATIONS = [
    ("no network modules", "import socket\n"),
    ("no network modules", "import http.client\n"),
    ("no network modules", "import requests\n"),
    ("no eval/exec/compile", "exec(open(p).read())\n"),
    ("no pickle/marshal loading", "import marshal\ncode = marshal.loads(data)\n"),
    ("no pickle/marshal loading", "from pickle import load\n"),
    ("np.load never with allow_pickle", "import numpy\nnumpy.load(p, allow_pickle=flag)\n"),
    ("torch.load only with weights_only=True", "torch.load(p, weights_only=False)\n"),
]


@pytest.mark.parametrize("rule", list(RULES))
def test_fieldcast_keeps_the_rule(rule):
    check = RULES[rule]
    broken = {rel: problems for rel, src in package_sources() if (problems := check(src))}
    assert not broken, f"{rule}: {broken}"


@pytest.mark.parametrize("rule", list(RULES))
def test_the_rule_catches_a_violation(rule):
    bad, good = VIOLATIONS[rule]
    assert RULES[rule](bad), f"{rule} missed: {bad!r}"
    assert not RULES[rule](good), f"{rule} flagged harmless code: {good!r}"


@pytest.mark.parametrize("rule,source", MORE_VIOLATIONS)
def test_the_rule_catches_other_forms(rule, source):
    assert RULES[rule](source)


def test_only_the_runtime_modules_create_onnx_sessions():
    assert session_modules() == ALLOWED_SESSION_MODULES
