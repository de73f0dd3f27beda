"""Shared plumbing that depends on nothing else in tfconv.

- `fileio`: atomic writes and output-folder checks;
- `errors`: the errors raised for a user's mistakes;
- `checks`: argument validation with Keras-style messages;
- `runtime`: device and package facts recorded with runs, quiet stderr;
- `figures`: matplotlib figures without pyplot, saved atomically.
"""
