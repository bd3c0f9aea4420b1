"""Build hook only (the project is configured in pyproject.toml): record the git revision the
package is built from as gemmbench/_revision.txt, so `pip install .` from a clone knows it."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _revision_module():
    spec = importlib.util.spec_from_file_location("_gemmbench_revision", ROOT / "gemmbench" / "machine" / "revision.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyRecordingRevision(build_py):
    def run(self):
        super().run()
        revision = _revision_module()
        sha = revision.from_git(ROOT)
        if sha and not self.dry_run:
            (Path(self.build_lib) / "gemmbench" / revision.RECORDED).write_text(sha + "\n")


setup(cmdclass={"build_py": BuildPyRecordingRevision})
