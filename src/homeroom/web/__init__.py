"""What the gate and the school share on the web: language, words, pages, cookies, bodies, errors.

It belongs to neither component and imports neither (docs/architecture.md#layers).
"""
