"""README.md's Python page shows a program to follow from a fresh clone:
run it, so that the page cannot drift from the package."""
import os
import re
import subprocess
import sys

import weft

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_the_readme_program_runs(tmp_path):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    page = text[text.index("## Python: `weft.Queue` and `weft.Pool`"):]
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert blocks, "README's Python page has no python block"
    prog = tmp_path / "my_program.py"
    prog.write_text(blocks[0])
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(weft.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg)
    out = subprocess.run([sys.executable, str(prog)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ok %d\n" % sum(i * i for i in range(1000))
