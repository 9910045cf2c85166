"""``python -m emofuse``: the command line."""

from emofuse.cli import main

if __name__ == "__main__":
    main()
