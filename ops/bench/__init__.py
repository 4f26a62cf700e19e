"""``make bench``: the scale targets P1–P7 measured against the app started as ``make run``
starts it (several web processes on one port, a Celery worker, beat), with DEBUG off."""
