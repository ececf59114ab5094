"""Training corpus of the llm service: public-domain texts (see README.md)."""
