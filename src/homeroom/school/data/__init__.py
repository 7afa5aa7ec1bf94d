"""The school's data: tables, migrations, the engine, the shared reads, access rules, slides.

The bottom of the school: imports nothing else of it (docs/school.md#the-packages).
"""
