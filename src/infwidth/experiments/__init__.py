"""End-to-end experiments of the paper: Word2Vec and MAML on Omniglot."""
