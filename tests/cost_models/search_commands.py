"""The command line in this process, for the cost_models command tests."""
from search.cli import main


def run(capsys, *argv):
    """``python -m search ARGV``: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err
