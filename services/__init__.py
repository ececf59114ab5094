"""Sample model-serving services: gateway, classifier, llm, features."""
