"""`python -m ecspipe` is the `ecspipe` command."""

from ecspipe.cli import main

if __name__ == "__main__":
    main()
