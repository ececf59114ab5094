"""The classifier sample service: a numpy MLP behind dynamic batching, with model versions.

``create_app`` builds the app; ``python -m gameday_services.classifier`` serves it;
``python -m gameday_services.classifier.train`` retrains the committed model versions;
``gameday_services.classifier.dataset.make_entity`` samples entities (features + true label).
"""
