"""Security rules enforced in CI over ``fieldcast/``; each rule is also proven to catch a violation."""

from __future__ import annotations

import pytest
from source_rules import (
    ALLOWED_SESSION_MODULES,
    IN_PLACE_WRITERS,
    RULES,
    check_atomic_writes,
    package_sources,
    session_modules,
)

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
    "files written atomically": (
        "from pathlib import Path\nPath(p).write_text(text)\n",
        "from fieldcast.engine.files import atomic_write\natomic_write(p, text.encode())\n",
    ),
    "InferenceSession only after validation": (
        "import onnxruntime as ort\ndef load(path):\n    return ort.InferenceSession(str(path))\n",
        "import onnxruntime as ort\ndef load(path):\n    load_checked(path)\n"
        "    return ort.InferenceSession(str(path))\n",
    ),
}
MORE_VIOLATIONS = [
    ("files written atomically", "with open(path, 'w') as f:\n    f.write(text)\n"),
    ("files written atomically", "fh = path.open(mode='wb')\n"),
    ("files written atomically", "import numpy as np\nnp.savez(path, a=a)\n"),
    ("files written atomically", "import torch\ntorch.save(state, path)\n"),
    ("files written atomically", "image.save(path)\n"),
    ("files written atomically", "fig.savefig(path)\n"),
    ("files written atomically", "import h5py\nf = h5py.File(path, 'w')\n"),
    ("files written atomically", "import shutil\nshutil.copyfile(a, b)\n"),
    ("files written atomically", "with atomic_path(p) as tmp:\n    pass\nnp.save(str(other), a)\n"),
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
    exempt = IN_PLACE_WRITERS if check is check_atomic_writes else {}
    broken = {
        rel: problems for rel, src in package_sources() if rel not in exempt and (problems := check(src))
    }
    assert not broken, f"{rule}: {broken}"


@pytest.mark.parametrize("rule", list(RULES))
def test_the_rule_catches_a_violation(rule):
    bad, good = VIOLATIONS[rule]
    assert RULES[rule](bad), f"{rule} missed: {bad!r}"
    assert not RULES[rule](good), f"{rule} flagged harmless code: {good!r}"


@pytest.mark.parametrize("rule,source", MORE_VIOLATIONS)
def test_the_rule_catches_other_forms(rule, source):
    assert RULES[rule](source)


def test_writes_into_a_buffer_or_an_atomic_temporary_are_allowed():
    source = (
        "import io\nimport numpy as np\nbuf = io.BytesIO()\nnp.savez(buf, a=a)\nimage.save(buf)\n"
        "with atomic_path(p) as tmp:\n    write_frames(str(tmp))\n    np.save(str(tmp), a)\n"
        "log = open(path, 'a')\nnull = open(os.devnull, 'w')\n"
    )
    assert check_atomic_writes(source) == []


def test_only_the_runtime_modules_create_onnx_sessions():
    assert session_modules() == ALLOWED_SESSION_MODULES
