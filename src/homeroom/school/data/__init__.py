"""The school's data: its tables and migrations, the engine, the shared reads, who may see what, slides."""
