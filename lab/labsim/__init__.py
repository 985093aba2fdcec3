"""labsim: the lab's simulator of cluster-side controllers (see lab/README.md, What is simulated)."""
