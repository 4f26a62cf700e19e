"""The app as ``make run`` serves it (``config.asgi``: HTTP and websockets), with static
files served the way pytest-django's live server serves them (the tests run with DEBUG
off and no collectstatic). Loaded only by the daphne process of the browser tests that
need websockets (``asgi_server`` in test_browser.py), never imported by the tests."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from config.asgi import application as app

application = ASGIStaticFilesHandler(app)
