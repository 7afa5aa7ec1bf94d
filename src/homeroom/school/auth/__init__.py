"""Signing in and staying signed in: passwords, throttle, sessions, sign-in, the Principal.

Design: docs/school.md#the-packages and the sections it links to.
"""
