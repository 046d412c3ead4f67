"""``python -m fairaudit``."""

from fairaudit.cli import main

main()
