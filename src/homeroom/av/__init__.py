"""Audio and video through Janus: its configuration, its process, and homeroom's client (docs/av.md)."""
