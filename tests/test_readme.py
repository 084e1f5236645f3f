"""The README's promises: its two set-up commands and its code run as shown."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_setup_commands():
  first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
  commands = [line.split("#")[0].strip() for line in first_block.splitlines()
              if line.strip()]
  assert commands == ["bash scripts/train_default.sh",
                      "bash scripts/test.sh"]
  for command in commands:
    assert (ROOT / command.split()[1]).is_file()
  ci = (ROOT / ".ci" / "run").read_text()
  assert "bash scripts/test.sh" in ci


def test_loss_snippet_runs():
  snippet = re.search(r"```python\n(.*?)```", README, re.S).group(1)
  namespace = {}
  exec(snippet, namespace)  # pylint: disable=exec-used
  assert float(namespace["loss"]) > 0
