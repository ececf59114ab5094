"""Token-streaming text generator: a word-level trigram model behind a vLLM-like scheduler."""
