"""The classifier sample service: a numpy MLP behind dynamic batching, with model versions.

``create_app`` builds the app; ``python -m services.classifier`` serves it;
``python -m services.classifier.train`` retrains the committed model versions;
``services.classifier.dataset.make_entity`` samples entities (features + true label).
"""
