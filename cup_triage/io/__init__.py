"""Where bytes come in and go out: file formats, loading, batch scoring, rendering.

The only layer that reads or writes files. It may import ``reasoning`` and ``sessions``;
never ``cli``. It makes no clinical decision: that is the reasoning core's.
"""
