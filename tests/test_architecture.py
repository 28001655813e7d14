"""Import boundaries (STYLE.md habit 1) hold, checked by import-linter's contracts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jingan.config.environment import PROJECT_ROOT


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
