"""Locust-side glue of blast-radius: options, the co-launched stack, response checks, reports.

This is the only package (with locustfile.py) that knows Locust. The services it starts
are asyncio programs and always run as child processes, never inside Locust's gevent loop.
"""
