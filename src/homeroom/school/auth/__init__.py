"""Signing in and staying signed in: passwords, throttle, sessions, sign-in, the signed-in person."""
