"""Build the Colab notebooks in colab/ from their plain-text sources.

Each `colab/src/NAME.py` is a Python file split into cells by `# %%` lines
(a code cell) and `# %% [markdown]` lines (a markdown cell whose lines start
with `# `). This script writes `colab/NAME.ipynb` (outputs empty). The test
suite checks that every notebook is current and executes it.

Usage:

    python scripts/build_notebooks.py          # rewrite colab/*.ipynb
    python scripts/build_notebooks.py --check  # exit 1 if any is stale
"""

import argparse
import pathlib
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ROOT / "colab" / "src"
NOTEBOOKS = ROOT / "colab"


def _cells(text):
    cells, kind, lines = [], None, []

    def flush():
        body = "\n".join(lines).strip("\n")
        if kind is not None and body:
            if kind == "markdown":
                body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
                cells.append(nbformat.v4.new_markdown_cell(body))
            else:
                cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def build(source):
    """Return the notebook (a string) built from one source file."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = _cells(source.read_text("utf-8"))
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{source.stem[:40]}-{index}"
    notebook.metadata = {
        "accelerator": "GPU",
        "colab": {"provenance": []},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nbformat.writes(notebook) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for source in sorted(SOURCES.glob("*.py")):
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = build(source)
        if target.exists() and target.read_text("utf-8") == text:
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(text, "utf-8")
    if args.check and stale:
        print(f"stale notebooks (run scripts/build_notebooks.py): {', '.join(stale)}")
        sys.exit(1)
    print(f"{'stale' if args.check else 'rebuilt'}: {', '.join(stale) or 'none'}")


if __name__ == "__main__":
    main()
