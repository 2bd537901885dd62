"""`python -m pavenet_lite ...` is the same as the `pavenet` command (and what `torchrun -m pavenet_lite` runs)."""
from pavenet_lite.cli import main

if __name__ == "__main__":
    main()
