from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_test_command_is_what_ci_runs():
    command = (ROOT / ".ci" / "test-command").read_text().strip()
    readme = (ROOT / "README.md").read_text()
    assert command in readme
    assert "bash .ci/test-command" in (ROOT / ".ci" / "run").read_text()


def test_readme_starts_with_demo_then_tests():
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:3]]
    assert blocks[0].endswith("scribblesup demo --out demo_output") and "torch==2.13.0" in blocks[0]
    assert blocks[1] == (ROOT / ".ci" / "test-command").read_text().strip()


def test_readme_library_example_runs(acdc_root, monkeypatch):
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Using the library\n\n```python\n")[1].split("```")[0]
    block = block.replace('"../shared/data/ACDC"', repr(str(acdc_root)))
    namespace = {}
    exec(block, namespace)
    assert namespace["dense"].shape == namespace["s"].label.shape
    assert namespace["result"].converged
