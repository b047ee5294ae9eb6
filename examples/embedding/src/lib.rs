//! Runnable examples of embedding Tollgate's domain crates: see `examples/` and
//! docs/embedding.md. The library itself is empty.
