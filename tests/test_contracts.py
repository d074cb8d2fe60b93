"""The test tokens' checked-in bytecode (tests/contracts/build.json) is what their source compiles to with the
solc that package.json pins: rebuilt here whenever node and that solc are installed."""

import json
import shutil
import subprocess

from config import ROOT
from tests.nodes import missing

CONTRACTS = ROOT / "tests" / "contracts"


def test_the_checked_in_bytecode_is_the_sources() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "solc").is_dir():
        missing("node and the solc npm package are not installed (npm install)")
    built = subprocess.run(
        [node, str(CONTRACTS / "build.js")], capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["solc"]
    rebuilt, stored = json.loads(built.stdout), json.loads((CONTRACTS / "build.json").read_text())
    assert rebuilt["compiler"].startswith(pinned + "+")
    assert rebuilt == stored, "run: node tests/contracts/build.js > tests/contracts/build.json"
    assert set(stored["contracts"]) == {p.stem for p in CONTRACTS.glob("*.sol")}
